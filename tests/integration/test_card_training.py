"""`fraudit train --dataset cards` end to end on a simulated year: the family's own bundle
and LATEST, the label-delay protocol in its figures, the artifacts loading as the SageMaker
containers load them, the card endpoints of `fraudit serve-models`, and the fold table of
`fraudit evaluate --dataset cards`."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlparse

import numpy as np
import pytest

from fraudit.families.cards import CARDS
from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
from fraudit.models.layout import LATEST, family_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_card_family_has_its_own_versions_latest_and_policy(trained_cards):
    from fraudit.models.cards.bundle import load_card_bundle
    from fraudit.models.cards.split import LABEL_GAP_DAYS

    result, _, _ = trained_cards
    root = result.path.parent
    model_dir = root.parent
    assert root == family_root(model_dir, CARDS)
    assert (root / LATEST).read_text().strip() == result.version
    assert not (model_dir / LATEST).exists()  # the ULB family's pointer is not touched
    bundle = load_card_bundle(model_dir)
    assert bundle.version == result.version
    assert bundle.names == FEATURE_NAMES
    assert bundle.manifest["family"] == "cards"
    assert bundle.manifest["feature_set_version"] == feature_set_version()
    assert bundle.policy.calibration is not None
    assert 0 < bundle.policy.review_threshold <= bundle.policy.decline_threshold < 1
    # The detector reports its score but sends nothing to review (it does not hold its
    # budget on real rows); where it would flag its share is kept for evaluations.
    assert bundle.policy.anomaly_review_threshold is None
    assert np.isfinite(bundle.policy.validation["anomaly_score_at_review_rate"])
    assert bundle.policy.targets["anomaly_review_rate"] == 0.0
    levels = result.metrics["protocol"]
    # (c) trains as of the end, (b) as of the test's start: fewer rows, and each level's
    # out-of-time folds predicted periods before its own as-of time.
    assert levels["b"]["rows"] < levels["c"]["rows"] < result.metrics["rows"]
    assert levels["c"]["trees"] == round(
        levels["a"]["trees"] * levels["c"]["rows"] / result.metrics["protocol"]["a"]["rows"]
    )
    assert len(levels["c"]["out_of_time"]["folds"]) == 2
    assert LABEL_GAP_DAYS == 35
    test = result.metrics["test"]
    assert 0 < test["classifier"]["auprc"] <= 1
    assert set(test["decision_mix"]) >= {"genuine"}
    assert {row["group"] for row in test["fairness"]} >= {"age under 25"}
    assert test["anomaly"]["card_outlier"]["auprc"] > 0
    assert "card windows" in test["family_contributions"]


def test_the_card_artifacts_load_in_the_sagemaker_container_check(trained_cards, tmp_path):
    """The classifier with the image's xgboost (3.0-5 -> 3.0.5), the anomaly artifact through
    its own inference.py hooks, both on card rows with missing values, score as fraudit."""
    from fraudit.deploy.model_check import check_version
    from fraudit.models.layout import ANOMALY_TARBALL, CLASSIFIER_TARBALL

    result, _, _ = trained_cards
    version, checks = check_version(result.path.parent.parent, CARDS, None, "3.0-5", cache=tmp_path)
    assert version == result.version
    assert set(checks) == {CLASSIFIER_TARBALL, ANOMALY_TARBALL}
    assert checks[CLASSIFIER_TARBALL].xgboost_version == "3.0.5"
    assert all(c.ok and c.rows == 64 for c in checks.values())


def test_serve_models_answers_the_card_endpoints_as_the_bundle_scores(trained_cards, tmp_path):
    from fraudit.deploy.model_check import csv_body
    from fraudit.models.cards.bundle import load_card_bundle
    from fraudit.models.cards.serving import sample_card_rows
    from fraudit.models.classifier import predict
    from fraudit.settings import Settings
    from tests.support.processes import fraudit_process, free_port, stop, wait_for_http

    result, _, _ = trained_cards
    model_dir = result.path.parent.parent
    bundle = load_card_bundle(model_dir)
    defaults = Settings(_env_file=None)
    port = free_port()
    process = fraudit_process(
        ["serve-models", "--model-dir", str(model_dir), "--port", str(port)],
        {},
        tmp_path / "server.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process)
        conn = http.client.HTTPConnection(urlparse(url).hostname, port, timeout=10)
        conn.request("GET", "/ping")
        ping = json.loads(conn.getresponse().read())
        # Only the card family is trained under this root: only its endpoints are served.
        assert ping["endpoints"] == {
            defaults.family(CARDS).anomaly_endpoint: result.version,
            defaults.family(CARDS).classifier_endpoint: result.version,
        }
        rows = sample_card_rows(len(bundle.names), count=8)
        body = csv_body(rows).encode()
        expected = {
            defaults.family(CARDS).classifier_endpoint: predict(
                bundle.classifier, np.asarray(rows)
            ),
            defaults.family(CARDS).anomaly_endpoint: bundle.anomaly.score(np.asarray(rows)),
        }
        for name, want in expected.items():
            conn.request(
                "POST",
                f"/endpoints/{name}/invocations",
                body,
                {"Content-Type": "text/csv", "Accept": "application/json"},
            )
            response = conn.getresponse()
            assert response.status == 200
            answer = json.loads(response.read())
            got = [p["score"] for p in answer.get("predictions", answer.get("scores", []))]
            assert np.allclose(got, want, rtol=0, atol=1e-6)
        conn.request(
            "POST",
            f"/endpoints/{defaults.family(CARDS).classifier_endpoint}/invocations",
            b"1,2,3",
            {"Content-Type": "text/csv"},
        )
        response = conn.getresponse()
        assert response.status == 400
        assert b"3 fields, expected 42" in response.read()
        conn.close()
    finally:
        stop(process)


def test_evaluate_prints_the_fold_table(trained_cards, capsys):
    from fraudit.cli import main

    result, history, features = trained_cards
    model_dir = str(result.path.parent.parent)
    assert main(["evaluate", "--dataset", "cards", "--model-dir", model_dir]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| fold | train rows | trees | test period |")
    assert len([line for line in table.splitlines() if line.startswith("| 1 |")]) == 1
    args = ["--data", str(history), "--features", str(features), "--folds", "3"]
    assert main(["evaluate", "--dataset", "cards", "--model-dir", model_dir, *args]) == 0
    table = capsys.readouterr().out
    assert [line.split("|")[1].strip() for line in table.splitlines()[-3:]] == ["1", "2", "3"]
    report = json.loads((result.path / "evaluation.json").read_text())
    assert len(report["rolling_origin"]["folds"]) == 3


def test_train_cards_says_what_it_needs(tmp_path, capsys):
    from fraudit.cli import main

    assert main(["train", "--dataset", "cards", "--out", str(tmp_path)]) == 2
    assert "needs --data HISTORY" in capsys.readouterr().err
    missing = ["--data", str(tmp_path / "none.parquet"), "--features", str(tmp_path)]
    assert main(["train", "--dataset", "cards", *missing]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_cards_on_a_too_short_history_says_how_much_it_needs(tmp_path, capsys):
    """Main: `fraudit train --dataset cards` on a 7.6-day history ended in `IndexError: index
    -1 is out of bounds for axis 0 with size 0`. The span is checked before any feature is
    read, so the features here are zeros."""
    import pandas as pd

    from fraudit.cli import main
    from fraudit.models.cards.split import MIN_HISTORY_DAYS

    history = tmp_path / "history.parquet"
    assert (
        main(["generate-cards", "--transactions", "3000", "--days", "30", "--out", str(history)])
        == 0
    )
    frame = pd.read_parquet(history)
    week = frame[frame.event_time < frame.event_time.min() + 7.6 * 86_400]
    week.to_parquet(history, index=False)
    features = tmp_path / "features"
    features.mkdir()
    pd.DataFrame(
        {"transaction_id": week.transaction_id, **{name: 0.0 for name in FEATURE_NAMES}}
    ).to_parquet(features / "part-0.parquet", index=False)
    capsys.readouterr()
    code = main(["train", "--dataset", "cards", "--data", str(history), "--features",
                 str(features), "--out", str(tmp_path / "models")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"needs at least {MIN_HISTORY_DAYS}" in err
    assert "Traceback" not in err
    assert "the history spans 7." in err
    assert not list((tmp_path / "models").rglob("*"))  # nothing written


def test_evaluate_scores_the_stored_model_on_real_rows_without_chargeback_times(
    trained_cards, spark, tmp_path, capsys
):
    """Main retrained on the file's folds instead of scoring the stored model, and ended in
    `ValueError: every fraud needs a chargeback time` on a file whose frauds carry none.
    Here: the committed real Sparkov rows, imported, backfilled, scored from a date on."""
    import pandas as pd

    from fraudit.cli import main
    from fraudit.features.history_files import backfill_file

    result, _, _ = trained_cards
    history, features = tmp_path / "sparkov.parquet", tmp_path / "features"
    sample = "dataset/samples/sparkov_test_sample.csv.gz"
    assert main(["import", "sparkov", sample, "--out", str(history)]) == 0
    backfill_file(spark, history, features)
    rows = pd.read_parquet(history)
    since = pd.Timestamp("2020-10-01", tz="UTC").timestamp()
    later = rows[rows.event_time >= since]
    out = tmp_path / "report.json"
    capsys.readouterr()
    code = main(["evaluate", "--dataset", "cards", "--model-dir", str(result.path.parent.parent),
                 "--data", str(history), "--features", str(features), "--since", "2020-10-01",
                 "--json", str(out)])  # fmt: skip
    assert code == 0
    assert "genuine sent to review" in capsys.readouterr().out
    report = json.loads(out.read_text())["labelled_history"]
    assert report["rows"] == len(later)
    assert report["frauds"] == int(later.is_fraud.sum())
    genuine, fraud = report["genuine_reviewed"], report["fraud_flagged"]
    assert genuine["of"] == int((~later.is_fraud).sum())
    assert genuine["low"] <= genuine["share"] <= genuine["high"]
    assert fraud["count"] == report["fraud_declined"]["count"] + report["fraud_reviewed"]["count"]
    # A model trained only on simulated cards still ranks the real frauds (a third of these
    # rows) far above their share.
    assert report["auprc"] > 2 * report["frauds"] / report["rows"]
