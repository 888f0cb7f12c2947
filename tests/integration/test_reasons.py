"""Reasons from the real trained models: XGBoost's TreeSHAP contributions add up to the
classifier's margin, each detector's terms add up to its score, and the model server's
explain answer (what the SageMaker containers answer) equals the in-process one."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fraudit.data.creditcard import load_creditcard
from fraudit.families import family
from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
from fraudit.features.descriptions import describe
from fraudit.models.cards.bundle import load_card_bundle
from fraudit.models.cards.serving import InProcessCardScorer
from fraudit.models.ulb.serving import InProcessScorer
from fraudit.scoring.reasons import TOP_CONTRIBUTIONS, reasons
from fraudit.scoring.sagemaker import SageMakerScorer
from fraudit.settings import Settings
from tests.support.processes import runtime_client

pytestmark = pytest.mark.integration

ULB, CARDS = family("ulb"), family("cards")


@pytest.fixture(scope="module")
def ulb_rows(dev_csv):
    data = load_creditcard(dev_csv)
    return np.vstack([data.X[:20], data.X[data.y == 1][:5]])


@pytest.fixture(scope="module")
def card_bundle(trained_cards):
    result, _, _ = trained_cards
    return load_card_bundle(result.path.parent.parent, result.version)


@pytest.fixture(scope="module")
def card_rows(trained_cards, card_bundle):
    _, _, features = trained_cards
    frame = pd.read_parquet(features).head(40)
    return [
        {
            n: (None if pd.isna(frame[n].iloc[i]) else float(frame[n].iloc[i]))
            for n in card_bundle.names
        }
        for i in range(len(frame))
    ]


def _margins(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    return booster.predict(
        xgb.DMatrix(x, missing=np.nan), output_margin=True, validate_features=False
    )


def test_ulb_contributions_plus_the_base_value_are_the_models_margin(bundle, ulb_rows):
    scorer = InProcessScorer(bundle)
    explained = scorer.explain(ulb_rows.tolist())
    margins = _margins(bundle.classifier, ulb_rows)
    for explanation, margin, score in zip(
        explained, margins, scorer.score(ulb_rows.tolist()), strict=True
    ):
        assert sum(explanation.contributions) + explanation.bias == pytest.approx(margin, abs=1e-4)
        assert 1 / (1 + math.exp(-margin)) == pytest.approx(score.fraud_proba, abs=1e-6)
        # The detector's terms are its squared distance: the score is log1p(d2 / 29).
        d2 = sum(explanation.anomaly_terms.values())
        assert math.log1p(d2 / 29) == pytest.approx(score.anomaly_score, rel=1e-9, abs=1e-9)


def test_card_contributions_and_the_detectors_three_questions_add_up(card_bundle, card_rows):
    scorer = InProcessCardScorer(card_bundle)
    explained = scorer.explain(card_rows)
    x = np.array([[np.nan if r[n] is None else r[n] for n in card_bundle.names] for r in card_rows])
    margins = _margins(card_bundle.classifier, x)
    for explanation, margin, score in zip(explained, margins, scorer.score(card_rows), strict=True):
        assert explanation.names == card_bundle.names
        assert sum(explanation.contributions) + explanation.bias == pytest.approx(margin, abs=1e-4)
        assert set(explanation.anomaly_terms) == {"amount_for_category", "hour", "card_last_hour"}
        assert sum(explanation.anomaly_terms.values()) == pytest.approx(score.anomaly_score)


def test_a_card_reason_names_the_feature_its_value_and_what_it_means(card_bundle, card_rows):
    scorer = InProcessCardScorer(card_bundle)
    riskiest = max(range(len(card_rows)), key=lambda i: scorer.score([card_rows[i]])[0].fraud_proba)
    row = card_rows[riskiest]
    (explanation,) = scorer.explain([row])
    given = reasons(CARDS, explanation, row, feature_set_version())
    assert 0 < len(given.model) <= TOP_CONTRIBUTIONS
    contributions = [r.contribution for r in given.model]
    assert contributions == sorted(contributions, reverse=True)
    assert contributions[-1] > 0
    for reason in given.model:
        assert reason.feature in FEATURE_NAMES
        assert reason.value == row[reason.feature]
        assert reason.text == describe(reason.feature, row[reason.feature])
    assert given.anomaly[0].feature in explanation.anomaly_terms
    assert given.feature_set_version == feature_set_version()


def test_the_model_servers_explanations_equal_the_in_process_ones(
    model_server, bundle, ulb_rows, card_bundle, card_rows
):
    """What `fraudit deploy check-model` holds each container to, on the local server."""
    client = runtime_client(model_server)
    defaults = Settings(_env_file=None)
    for declared, in_process, rows in (
        (ULB, InProcessScorer(bundle), ulb_rows.tolist()),
        (CARDS, InProcessCardScorer(card_bundle), card_rows),
    ):
        configured = defaults.family(declared)
        remote = SageMakerScorer(
            client,
            classifier_endpoint=configured.classifier_endpoint,
            anomaly_endpoint=configured.anomaly_endpoint,
            model_version="",
            csv_row=declared.csv_row,
        )
        try:
            for near, far in zip(in_process.explain(rows), remote.explain(rows), strict=True):
                assert far.names == near.names
                np.testing.assert_allclose(far.contributions, near.contributions, atol=1e-6)
                assert far.bias == pytest.approx(near.bias, abs=1e-6)
                assert far.anomaly_terms.keys() == near.anomaly_terms.keys()
                for term, value in near.anomaly_terms.items():
                    assert far.anomaly_terms[term] == pytest.approx(value, rel=1e-6, abs=1e-9)
        finally:
            remote.close()
