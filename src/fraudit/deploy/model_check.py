"""Prove a family's artifacts load as the SageMaker containers load them, and score and
explain exactly as fraudit does: each artifact's own `code/inference.py` (model_fn,
transform_fn) runs in a separate interpreter on the unpacked tarball, as the framework
containers run it; the classifier's under a Python whose xgboost is the image's version (a
cached virtualenv when this one's differs). Scores, TreeSHAP contributions and the
detectors' terms are compared with fraudit's own on the same rows."""

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

# Run by a separate interpreter as the SageMaker framework containers serve an artifact:
# unpack model.tar.gz, import code/inference.py from the unpacked folder (code/ on the path,
# as the container puts it), load with model_fn, answer with transform_fn; once for scores,
# once for explanations (Accept: the explain media type).
_CONTAINER_SCRIPT = r"""
import importlib, json, os, sys, tarfile, tempfile
tarball, explain, body = sys.argv[1], sys.argv[2], sys.stdin.read()
sys.modules["fraudit"] = None  # the container has no fraudit: only what the tarball holds
with tempfile.TemporaryDirectory() as tmp:
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    sys.path.insert(0, os.path.join(tmp, "code"))
    inference = importlib.import_module("inference")
    model = inference.model_fn(tmp)
    scores, media = inference.transform_fn(model, body, "text/csv", "application/json")
    explained, explain_media = inference.transform_fn(model, body, "text/csv", explain)
version = sys.modules.get("xgboost")
json.dump({"xgboost": getattr(version, "__version__", "-"), "media": [media, explain_media],
           "scores": json.loads(scores), "explained": json.loads(explained)}, sys.stdout)
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


def _serve(python: Path, tarball: Path, rows: list[list[float]], failure: str) -> dict[str, Any]:
    from fraudit.scoring.base import EXPLAIN_MEDIA_TYPE

    return _run_script(
        [str(python), "-I", "-c", _CONTAINER_SCRIPT, str(tarball), EXPLAIN_MEDIA_TYPE],
        csv_body(rows),
        failure,
    )


def _largest(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def check_classifier(
    tarball: Path, image_tag: str, cache: Path, rows: list[list[float]]
) -> ModelCheck:
    """The classifier artifact served by its own inference.py under the image's xgboost:
    its scores and its TreeSHAP contributions against fraudit's on the same rows."""
    import numpy as np
    import xgboost

    from fraudit.models.artifacts import read_member
    from fraudit.models.layout import XGBOOST_MEMBER
    from fraudit.models.sagemaker_code.classifier_inference import contributions, probabilities

    version = xgboost_version_for(image_tag)
    python = python_with_xgboost(version, cache)
    answer = _serve(
        python,
        tarball,
        rows,
        f"the classifier artifact does not load and serve with xgboost {version}",
    )
    if answer["xgboost"] != version:
        raise RuntimeError(f"checked with xgboost {answer['xgboost']}, wanted {version}")
    booster = xgboost.Booster()
    booster.load_model(bytearray(read_member(tarball, XGBOOST_MEMBER)))
    x = np.asarray(rows, dtype=np.float64)
    theirs = [p["score"] for p in answer["scores"]["predictions"]]
    explained = answer["explained"]["explanations"]
    ours = contributions(booster, x)
    difference = max(
        _largest(theirs, probabilities(booster, x)),
        _largest([e["contributions"] + [e["bias"]] for e in explained], ours),
    )
    return ModelCheck(image_tag, version, len(rows), difference)


def check_anomaly(
    tarball: Path,
    score: Callable[[np.ndarray], np.ndarray],
    rows: list[list[float]],
    terms: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
) -> ModelCheck:
    """The anomaly artifact served by its own entry point, against `score` (fraudit's) and,
    given, `terms` (its explanation's)."""
    import numpy as np

    answer = _serve(
        Path(sys.executable),
        tarball,
        rows,
        "the anomaly artifact does not load with its inference.py",
    )
    x = np.asarray(rows, dtype=np.float64)
    difference = _largest([s["score"] for s in answer["scores"]["scores"]], score(x))
    if terms is not None:
        ours = terms(x)
        theirs = answer["explained"]["explanations"]
        for name, values in ours.items():
            difference = max(difference, _largest([e["terms"][name] for e in theirs], values))
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
    rows, (score, terms) = family.serving().check_inputs(model_dir, version)
    return version, {
        CLASSIFIER_TARBALL: check_classifier(folder / CLASSIFIER_TARBALL, image_tag, cache, rows),
        ANOMALY_TARBALL: check_anomaly(folder / ANOMALY_TARBALL, score, rows, terms),
    }
