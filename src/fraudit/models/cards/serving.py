"""The card family's models loaded for scoring: in this process (FRAUDIT_SCORER=in-process)
and as the local model server's two endpoints (`fraudit serve-models`). Rows are card
vectors (name -> value, None for missing); the endpoints read them as `text/csv` in the
manifest's feature order, an empty field for a missing value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fraudit.features.definitions import CardVector
from fraudit.models.cards.bundle import CardBundle, load_card_bundle
from fraudit.models.in_process import BundleScorer, DetectorCheck
from fraudit.models.sagemaker_code.csv_rows import parse_rows as parse_card_rows
from fraudit.models.server import Endpoint, endpoint_pair
from fraudit.ulb_vector import FeatureError


class InProcessCardScorer(BundleScorer):
    """The card models in this process: rows are card vectors, in the manifest's order."""

    def __init__(self, bundle: CardBundle) -> None:
        names = bundle.names

        def matrix(rows: Sequence[CardVector]) -> np.ndarray:
            return np.array(
                [[np.nan if r[n] is None else r[n] for n in names] for r in rows], dtype=np.float64
            )

        super().__init__(
            bundle.version,
            bundle.classifier,
            bundle.anomaly.score,
            matrix,
            "card",
            names,
            bundle.anomaly.terms,
        )


def _card_parser(width: int) -> Callable[[bytes], np.ndarray]:
    def parse(body: bytes) -> np.ndarray:
        try:
            return parse_card_rows(body.decode("utf-8"), width)
        except UnicodeDecodeError:
            raise FeatureError("body is not UTF-8 text") from None
        except ValueError as exc:
            raise FeatureError(str(exc)) from None

    return parse


def in_process_scorer(model_dir: Path, version: str | None) -> InProcessCardScorer:
    return InProcessCardScorer(load_card_bundle(model_dir, version))


def endpoints(
    model_dir: Path, version: str | None, classifier: str, anomaly: str
) -> list[Endpoint]:
    bundle = load_card_bundle(model_dir, version)
    width = len(bundle.names)
    return endpoint_pair(
        (classifier, anomaly),
        bundle.classifier,
        bundle.names,
        (bundle.anomaly.score, bundle.anomaly.terms),
        _card_parser(width),
        f"the {width} card features (manifest.json of {bundle.version})",
        bundle.version,
    )


def sample_card_rows(width: int, count: int = 64, seed: int = 7) -> list[list[float]]:
    """Rows of `width` card features, about a fifth of the values missing (NaN), half of the
    rest small integers (codes, counts): what the card endpoints are sent."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = np.where(
        rng.random((count, width)) < 0.5,
        rng.integers(0, 14, (count, width)).astype(np.float64),
        rng.lognormal(2.0, 1.5, (count, width)),
    )
    values[rng.random((count, width)) < 0.2] = np.nan
    return values.tolist()


def check_inputs(model_dir: Path, version: str) -> tuple[list[list[float]], DetectorCheck]:
    """What `fraudit deploy check-model` sends both containers, and the detector's scores
    and terms."""
    bundle = load_card_bundle(model_dir, version)
    return sample_card_rows(len(bundle.names)), (bundle.anomaly.score, bundle.anomaly.terms)
