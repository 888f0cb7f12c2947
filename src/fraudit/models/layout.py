"""Where a model bundle's files are: the one place that names them. Light on purpose (no
xgboost, no numpy): the API reads the policy with it, the deploy tool uploads with it.

models/                          the model folder; each family's versions under its own
                                 root (fraudit.families: `artifact_dir`), the ULB family
                                 (creditcard.csv features) at the folder itself
  LATEST                         name of the newest version (written last, atomically)
  <version>/
    classifier/model.tar.gz      xgboost-model: what the built-in XGBoost container loads
    anomaly/model.tar.gz         anomaly.json + code/inference.py for the scikit-learn container
    policy.json                  decision thresholds (fraudit.scoring.policy)
    metrics.json                 training report
    manifest.json                versions, data fingerprint, file checksums
    MODEL_CARD.md
    evaluation.json              written by `fraudit evaluate`
  cards/                         the card family (docs/FEATURES.md features): the same
    LATEST                       layout, its own versions
    <version>/...
  candidates/                    models trained from the store (`fraudit train --from-store`),
    cards/<version>/...          never served until shipped; one may score in shadow
"""

from __future__ import annotations

from pathlib import Path

from fraudit.errors import ArtifactError
from fraudit.families import FamilySettings, ModelFamily

LATEST = "LATEST"
CLASSIFIER_TARBALL = "classifier/model.tar.gz"
ANOMALY_TARBALL = "anomaly/model.tar.gz"
XGBOOST_MEMBER = "xgboost-model"
POLICY_FILE = "policy.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
EVALUATION_FILE = "evaluation.json"
CANDIDATES_DIR = "candidates"  # under the model folder
# What a deployment uploads of a version: what the endpoints and the API need.
DEPLOYED_FILES = (CLASSIFIER_TARBALL, ANOMALY_TARBALL, POLICY_FILE, MANIFEST_FILE)


def family_root(model_dir: Path, family: ModelFamily) -> Path:
    """Where a family's versions and LATEST live."""
    return Path(model_dir) / family.artifact_dir


def resolve_version(root: Path, version: str | None, family: ModelFamily) -> str:
    """`version` if that bundle exists, else the one LATEST names."""
    if version:
        if not (root / version / MANIFEST_FILE).is_file():
            raise ArtifactError(f"model version {version!r} not found under {root}")
        return version
    pointer = root / LATEST
    if not pointer.is_file():
        raise ArtifactError(f"no trained model under {root}: run `{family.train_command}` first")
    return pointer.read_text(encoding="utf-8").strip()


def has_model(root: Path) -> bool:
    return (root / LATEST).is_file()


def shadow_model_dir(model_dir: Path, configured: FamilySettings) -> Path:
    """Where a family's candidate in shadow is read from locally: its setting, else the
    folder `fraudit train --from-store` writes candidates to."""
    if configured.shadow_model_dir:
        return Path(configured.shadow_model_dir)
    return Path(model_dir) / CANDIDATES_DIR
