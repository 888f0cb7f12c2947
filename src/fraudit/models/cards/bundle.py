"""A stored card model, loaded: what the card endpoints (and the API's card path) serve.
Light on purpose: xgboost and numpy, no pandas or scikit-learn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

from fraudit.errors import ArtifactError
from fraudit.families.cards import CARDS
from fraudit.models.artifacts import load_classifier, read_manifest, read_member
from fraudit.models.layout import ANOMALY_TARBALL, POLICY_FILE, family_root, resolve_version
from fraudit.models.sagemaker_code.card_anomaly_inference import MODEL_FILE, CardOutlier
from fraudit.scoring.policy import DecisionPolicy


@dataclass(frozen=True)
class CardBundle:
    """A stored card model: what the card endpoints and the card path of the API load."""

    version: str
    path: Path
    classifier: xgb.Booster
    anomaly: CardOutlier
    policy: DecisionPolicy
    manifest: dict[str, Any]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.manifest["features"])


def load_card_bundle(
    model_dir: Path, version: str | None = None, *, verify: bool = True
) -> CardBundle:
    root = family_root(Path(model_dir), CARDS)
    version = resolve_version(root, version, CARDS)
    folder = root / version
    manifest = read_manifest(folder, verify=verify)
    anomaly = CardOutlier.from_dict(json.loads(read_member(folder / ANOMALY_TARBALL, MODEL_FILE)))
    if tuple(manifest["features"]) != anomaly.names:
        raise ArtifactError(f"{folder}: the detector's features are not the manifest's")
    return CardBundle(
        version,
        folder,
        load_classifier(folder),
        anomaly,
        DecisionPolicy.load(folder / POLICY_FILE),
        manifest,
    )
