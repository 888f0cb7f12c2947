"""Prove a family's artifacts load as the SageMaker containers load them, and score exactly
as fraudit does: the classifier is opened from its model.tar.gz by a Python whose xgboost
is the image's version (a cached virtualenv when this one's differs); the anomaly artifact's
own `code/inference.py` hooks (model_fn, input_fn, predict_fn, output_fn) run in a separate
interpreter on the unpacked tarball, as the scikit-learn container runs them. Both answers
are compared with fraudit's own on the same rows."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudit.families import ModelFamily
from fraudit.models.layout import family_root, resolve_version

if TYPE_CHECKING:
    import numpy as np

# Built-in XGBoost image tag -> the xgboost release inside it (the image's own docs).
XGBOOST_OF_IMAGE = {"3.0-5": "3.0.5"}

# Run by the image's xgboost, doing what the built-in container does: every file of the
# model directory is tried as a pickle, then with Booster.load_model; the request's
# text/csv rows become a DMatrix without feature names (an empty field read as "nan", as the
# container's csv_to_dmatrix does), scored with validate_features=False.
_SCRIPT = r"""
import json, os, pickle, sys, tarfile, tempfile
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
fields = [["nan" if x == "" else x for x in line.split(",")] for line in csv_rows.split("\n")]
rows = np.array(fields).astype(np.float64)
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


def csv_body(rows: list[list[float]]) -> str:
    """text/csv as fraudit sends it: shortest round-trip floats, an empty field for NaN."""
    return "\n".join(",".join("" if v != v else repr(v) for v in row) for row in rows)


def _run_script(command: list[str], body: str, failure: str) -> dict[str, Any]:
    """Run a check script in its own interpreter; its JSON answer, or `failure` with the
    end of its stderr."""
    result = subprocess.run(
        command, input=body, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{failure}:\n{result.stderr.strip()[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def check_classifier(
    tarball: Path, image_tag: str, cache: Path, rows: list[list[float]]
) -> ModelCheck:
    import numpy as np
    import xgboost

    from fraudit.models.artifacts import read_member
    from fraudit.models.classifier import predict
    from fraudit.models.layout import XGBOOST_MEMBER

    version = xgboost_version_for(image_tag)
    python = python_with_xgboost(version, cache)
    csv_rows = csv_body(rows)
    answer = _run_script(
        [str(python), "-c", _SCRIPT, str(tarball)],
        csv_rows,
        f"the classifier artifact does not load with xgboost {version}",
    )
    if answer["xgboost"] != version:
        raise RuntimeError(f"checked with xgboost {answer['xgboost']}, wanted {version}")
    booster = xgboost.Booster()
    booster.load_model(bytearray(read_member(tarball, XGBOOST_MEMBER)))
    ours = predict(booster, np.asarray(rows))
    difference = float(np.max(np.abs(np.asarray(answer["scores"]) - ours)))
    return ModelCheck(image_tag, version, len(rows), difference)


# Run by a separate interpreter, as the scikit-learn container serves the anomaly artifact:
# unpack model.tar.gz, import code/inference.py from the unpacked folder, and call its hooks.
_ANOMALY_SCRIPT = r"""
import importlib, json, os, sys, tarfile, tempfile
tarball, body = sys.argv[1], sys.stdin.read()
with tempfile.TemporaryDirectory() as tmp:
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    sys.path.insert(0, os.path.join(tmp, "code"))  # the container imports it by name
    inference = importlib.import_module("inference")
    model = inference.model_fn(tmp)
    answer, media = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "text/csv"), model), "application/json"
    )
scores = [s["score"] for s in json.loads(answer)["scores"]]
json.dump({"media": media, "scores": scores}, sys.stdout)
"""


def check_anomaly(
    tarball: Path, score: Callable[[np.ndarray], np.ndarray], rows: list[list[float]]
) -> ModelCheck:
    """The anomaly artifact served by its own entry point, against `score` (fraudit's)."""
    import numpy as np

    answer = _run_script(
        [sys.executable, "-I", "-c", _ANOMALY_SCRIPT, str(tarball)],
        csv_body(rows),
        "the anomaly artifact does not load with its inference.py",
    )
    ours = score(np.asarray(rows, dtype=np.float64))
    difference = float(np.max(np.abs(np.asarray(answer["scores"]) - ours)))
    return ModelCheck("scikit-learn container hooks", "-", len(rows), difference)


def check_version(
    model_dir: Path, family: ModelFamily, version: str | None, image_tag: str, cache: Path
) -> tuple[str, dict[str, ModelCheck]]:
    """Both artifacts of a family's version (default: its LATEST), each as its container
    loads it, on rows shaped like that family's requests."""
    from fraudit.models.layout import ANOMALY_TARBALL, CLASSIFIER_TARBALL

    root = family_root(model_dir, family)
    version = resolve_version(root, version, family)
    folder = root / version
    rows, score = family.serving().check_inputs(model_dir, version)
    return version, {
        CLASSIFIER_TARBALL: check_classifier(folder / CLASSIFIER_TARBALL, image_tag, cache, rows),
        ANOMALY_TARBALL: check_anomaly(folder / ANOMALY_TARBALL, score, rows),
    }
