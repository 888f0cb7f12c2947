"""Prove the classifier artifact loads with the xgboost of the SageMaker image Terraform
pins, and scores exactly as fraudit does: the artifact is opened from its model.tar.gz
by a Python whose xgboost is the image's version (a cached virtualenv when this one's
differs), and its scores are compared with fraudit's own on the same rows."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

# Built-in XGBoost image tag -> the xgboost release inside it (the image's own docs).
XGBOOST_OF_IMAGE = {"3.0-5": "3.0.5"}

# Run by the image's xgboost, doing what the built-in container does: every file of the
# model directory is tried as a pickle, then with Booster.load_model; the request's
# text/csv rows become a DMatrix without feature names, scored with validate_features=False.
_SCRIPT = r"""
import io, json, os, pickle, sys, tarfile, tempfile
import numpy as np, xgboost
tarball, csv_rows = sys.argv[1], sys.stdin.read()
with tempfile.TemporaryDirectory() as tmp:
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    (name,) = [n for n in os.listdir(tmp) if os.path.isfile(os.path.join(tmp, n))]
    path = os.path.join(tmp, name)
    try:
        booster = pickle.load(open(path, "rb"))
    except Exception:
        booster = xgboost.Booster()
        booster.load_model(path)
rows = np.loadtxt(io.StringIO(csv_rows), delimiter=",", ndmin=2)
scores = booster.predict(xgboost.DMatrix(rows), validate_features=False)
json.dump({"xgboost": xgboost.__version__, "scores": [float(s) for s in scores]}, sys.stdout)
"""


@dataclass(frozen=True)
class ModelCheck:
    image_tag: str
    xgboost_version: str
    rows: int
    max_abs_difference: float

    @property
    def ok(self) -> bool:
        return self.max_abs_difference <= 1e-6


def xgboost_version_for(image_tag: str) -> str:
    try:
        return XGBOOST_OF_IMAGE[image_tag]
    except KeyError:
        known = ", ".join(sorted(XGBOOST_OF_IMAGE))
        raise ValueError(
            f"no known xgboost release for image tag {image_tag!r} (known: "
            f"{known}); fraudit trains with xgboost 3.0.x for 3.0-5"
        ) from None


def python_with_xgboost(version: str, cache: Path) -> Path:
    """This interpreter if its xgboost is `version`, else a cached virtualenv with it."""
    try:
        import xgboost

        if xgboost.__version__ == version:
            return Path(sys.executable)
    except ImportError:
        pass
    home = cache / f"xgboost-{version}"
    python = home / "bin" / "python"
    if not (home / ".ready").exists():
        venv.create(home, with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"xgboost-cpu=={version}", "numpy"],
            check=True,
            timeout=900,
        )
        (home / ".ready").touch()
    return python


def sample_rows(count: int = 64, seed: int = 7) -> list[list[float]]:
    """Rows shaped like creditcard.csv (Time, V1..V28, Amount): the scores only need to
    agree, not to be realistic."""
    import numpy as np

    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, 2.0, size=(count, 28))
    time = rng.uniform(0, 172_800, size=(count, 1))
    amount = rng.lognormal(3.0, 1.5, size=(count, 1))
    return np.hstack([time, v, amount]).tolist()


def check_classifier(tarball: Path, image_tag: str, cache: Path) -> ModelCheck:
    import numpy as np
    import xgboost

    from fraudit.models.artifacts import read_member
    from fraudit.models.classifier import predict
    from fraudit.models.layout import XGBOOST_MEMBER

    version = xgboost_version_for(image_tag)
    python = python_with_xgboost(version, cache)
    rows = sample_rows()
    csv_rows = "\n".join(",".join(repr(v) for v in row) for row in rows)
    result = subprocess.run(
        [str(python), "-c", _SCRIPT, str(tarball)],
        input=csv_rows,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the classifier artifact does not load with xgboost {version}:\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    answer = json.loads(result.stdout)
    if answer["xgboost"] != version:
        raise RuntimeError(f"checked with xgboost {answer['xgboost']}, wanted {version}")
    booster = xgboost.Booster()
    booster.load_model(bytearray(read_member(tarball, XGBOOST_MEMBER)))
    ours = predict(booster, np.asarray(rows))
    difference = float(np.max(np.abs(np.asarray(answer["scores"]) - ours)))
    return ModelCheck(image_tag, version, len(rows), difference)
