"""A stored ULB model, loaded: what the ULB endpoints (and the API's in-process scorer)
serve."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

from fraudit.families.ulb import ULB
from fraudit.models.artifacts import load_classifier, read_manifest, read_member
from fraudit.models.layout import ANOMALY_TARBALL, POLICY_FILE, family_root, resolve_version
from fraudit.models.sagemaker_code.anomaly_inference import MODEL_FILE, RobustMahalanobis
from fraudit.scoring.policy import DecisionPolicy


@dataclass(frozen=True)
class ModelBundle:
    version: str
    path: Path
    classifier: xgb.Booster
    anomaly: RobustMahalanobis
    policy: DecisionPolicy
    manifest: dict[str, Any]


def load_bundle(
    model_dir: str | Path, version: str | None = None, *, verify: bool = True
) -> ModelBundle:
    root = family_root(Path(model_dir), ULB)
    version = resolve_version(root, version, ULB)
    folder = root / version
    manifest = read_manifest(folder, verify=verify)
    anomaly = RobustMahalanobis.from_dict(
        json.loads(read_member(folder / ANOMALY_TARBALL, MODEL_FILE))
    )
    policy = DecisionPolicy.load(folder / POLICY_FILE)
    return ModelBundle(version, folder, load_classifier(folder), anomaly, policy, manifest)
