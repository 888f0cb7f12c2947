"""Versioned model artifacts, laid out for SageMaker (fraudit.models.layout names the
files): writing a bundle, and reading its manifest, members and booster back (each family's
folder loads its own bundle with these)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import xgboost as xgb

from fraudit.errors import ArtifactError
from fraudit.files import sha256_file
from fraudit.models.layout import (
    ANOMALY_TARBALL,
    CLASSIFIER_TARBALL,
    LATEST,
    MANIFEST_FILE,
    METRICS_FILE,
    MODEL_CARD_FILE,
    POLICY_FILE,
    XGBOOST_MEMBER,
)
from fraudit.models.sagemaker_code.anomaly_inference import MODEL_FILE, RobustMahalanobis
from fraudit.scoring.policy import DecisionPolicy

# SageMaker built-in XGBoost image whose xgboost (3.0.5) reads what we write: see docs/MODELS.md.
SAGEMAKER_XGBOOST_CONTAINER = "3.0-5"
SAGEMAKER_SKLEARN_CONTAINER = "1.4-2"


@dataclass(frozen=True)
class AnomalyArtifact:
    """What the anomaly endpoint's model.tar.gz holds: the model as JSON and the numpy-only
    container entry point (a file of fraudit.models.sagemaker_code) that scores it."""

    model_file: str
    document: dict[str, Any]
    inference_module: str

    @classmethod
    def ulb(cls, detector: RobustMahalanobis) -> AnomalyArtifact:
        return cls(MODEL_FILE, detector.to_dict(), "anomaly_inference.py")


def library_versions() -> dict[str, str]:
    """What a manifest records of the training environment."""
    import platform

    import numpy as np
    import sklearn

    return {
        "xgboost": xgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def classifier_bytes(booster: xgb.Booster) -> bytes:
    """The booster as JSON: readable by the container's xgboost and diffable by people."""
    return bytes(booster.save_raw(raw_format="json"))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # same model, same bytes: checksums then identify the model
    tar.addfile(info, io.BytesIO(data))


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name, data in members.items():
            _add(tar, name, data)
    return buffer.getvalue()


def read_member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(name)
        if member is None:
            raise ArtifactError(f"{tarball}: no {name}")
        return member.read()


CODE_INFERENCE = "code/inference.py"
CODE_CSV_ROWS = "code/csv_rows.py"


def model_version(classifier: bytes, anomaly: bytes, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(classifier + anomaly).hexdigest()[:8]}"


def policy_version(policy_fields: dict[str, Any]) -> str:
    canonical = json.dumps(policy_fields, sort_keys=True).encode()
    return f"p-{hashlib.sha256(canonical).hexdigest()[:10]}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write_bundle(
    root: Path,
    *,
    version: str,
    classifier: bytes,
    anomaly: AnomalyArtifact,
    policy: DecisionPolicy,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    model_card: str,
) -> Path:
    """Write every file of a version, then point LATEST at it: readers never see half."""
    folder = root / version
    if folder.exists():
        raise ArtifactError(f"{folder} already exists")
    code = resources.files("fraudit.models.sagemaker_code")
    shared = {CODE_CSV_ROWS: code.joinpath("csv_rows.py").read_bytes()}
    files = {
        # The framework container runs our inference.py (scores and TreeSHAP explanations);
        # the model member keeps the name the built-in container loads.
        CLASSIFIER_TARBALL: _tarball(
            {
                XGBOOST_MEMBER: classifier,
                CODE_INFERENCE: code.joinpath("classifier_inference.py").read_bytes(),
                **shared,
            }
        ),
        ANOMALY_TARBALL: _tarball(
            {
                anomaly.model_file: json.dumps(anomaly.document).encode(),
                CODE_INFERENCE: code.joinpath(anomaly.inference_module).read_bytes(),
                **shared,
                "code/requirements.txt": b"numpy\n",
            }
        ),
        POLICY_FILE: policy.to_json().encode(),
        METRICS_FILE: json.dumps(metrics, indent=2, sort_keys=True).encode(),
        MODEL_CARD_FILE: model_card.encode(),
    }
    for name, data in files.items():
        _write_atomic(folder / name, data)
    full_manifest = {
        **manifest,
        "model_version": version,
        "policy_version": policy.version,
        "sagemaker": {
            "xgboost_container": SAGEMAKER_XGBOOST_CONTAINER,
            "sklearn_container": SAGEMAKER_SKLEARN_CONTAINER,
        },
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    _write_atomic(
        folder / MANIFEST_FILE, json.dumps(full_manifest, indent=2, sort_keys=True).encode()
    )
    _write_atomic(root / LATEST, (version + "\n").encode())
    return folder


def read_manifest(folder: Path, *, verify: bool) -> dict[str, Any]:
    """A version's manifest; with `verify`, every file it lists checked against its sha256."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{folder}: unreadable manifest ({exc})") from None
    if verify:
        for name, expected in manifest.get("files", {}).items():
            if sha256_file(folder / name) != expected:
                raise ArtifactError(f"{folder / name}: checksum mismatch (file changed or damaged)")
    return manifest


def load_classifier(folder: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(read_member(folder / CLASSIFIER_TARBALL, XGBOOST_MEMBER)))
    booster.set_param({"nthread": 1})  # one request, one core: the server runs many at once
    return booster
