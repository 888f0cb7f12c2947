"""The ULB family's models loaded for scoring: in this process (FRAUDIT_SCORER=in-process,
for benchmarks and deployments that want no endpoints) and as the local model server's two
endpoints (`fraudit serve-models`). Needs the `models` extra."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fraudit.models.in_process import BundleScorer, DetectorCheck
from fraudit.models.sagemaker_code.anomaly_inference import TERM_NAMES
from fraudit.models.server import Endpoint, endpoint_pair
from fraudit.models.ulb.bundle import ModelBundle, load_bundle
from fraudit.ulb_vector import N_FEATURES, ULB_COLUMNS, FeatureError, parse_csv_matrix


def anomaly_terms(bundle: ModelBundle) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The ULB detector's per-column shares of its distance, by column name."""

    def terms(rows: np.ndarray) -> dict[str, np.ndarray]:
        shares = bundle.anomaly.terms(rows)
        return {name: shares[:, i] for i, name in enumerate(TERM_NAMES)}

    return terms


class InProcessScorer(BundleScorer):
    """The ULB models in this process: rows are the 30 numbers."""

    def __init__(self, bundle: ModelBundle) -> None:
        super().__init__(
            bundle.version,
            bundle.classifier,
            bundle.anomaly.score,
            lambda rows: np.asarray(rows, dtype=np.float64),
            "ULB",
            ULB_COLUMNS,
            anomaly_terms(bundle),
        )


def parse_rows(body: bytes) -> np.ndarray:
    """CSV rows to an (n, 30) array. The fast path lets numpy convert; on any fault the
    slow path names the first bad row and column."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FeatureError("body is not UTF-8 text") from None
    try:
        rows = np.array(
            [line.split(",") for line in text.splitlines() if line.strip()], dtype=np.float64
        )
        if (
            rows.ndim == 2
            and rows.shape[0]
            and rows.shape[1] == N_FEATURES
            and np.isfinite(rows).all()
        ):
            return rows
    except ValueError:
        pass
    # Business ranges (Time, Amount >= 0) are the API's to enforce; a model container only
    # refuses what it cannot compute on.
    return np.array(parse_csv_matrix(text, check_ranges=False), dtype=np.float64)


def in_process_scorer(model_dir: Path, version: str | None) -> InProcessScorer:
    return InProcessScorer(load_bundle(model_dir, version))


def endpoints(
    model_dir: Path, version: str | None, classifier: str, anomaly: str
) -> list[Endpoint]:
    bundle = load_bundle(model_dir, version)
    return endpoint_pair(
        (classifier, anomaly),
        bundle.classifier,
        ULB_COLUMNS,
        (bundle.anomaly.score, anomaly_terms(bundle)),
        parse_rows,
        "Time,V1..V28,Amount",
        bundle.version,
    )


def sample_rows(count: int = 64, seed: int = 7) -> list[list[float]]:
    """Rows shaped like creditcard.csv (Time, V1..V28, Amount): the scores only need to
    agree, not to be realistic."""
    import numpy as np

    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, 2.0, size=(count, 28))
    time = rng.uniform(0, 172_800, size=(count, 1))
    amount = rng.lognormal(3.0, 1.5, size=(count, 1))
    return np.hstack([time, v, amount]).tolist()


def check_inputs(model_dir: Path, version: str) -> tuple[list[list[float]], DetectorCheck]:
    """What `fraudit deploy check-model` sends both containers, and the detector's scores
    and terms."""
    bundle = load_bundle(model_dir, version)
    return sample_rows(), (bundle.anomaly.score, anomaly_terms(bundle))
