from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from fraudit.data.creditcard import load_creditcard
from fraudit.errors import ArtifactError
from fraudit.models.classifier import predict
from fraudit.models.sagemaker_code import anomaly_inference
from fraudit.models.split import temporal_split
from fraudit.models.ulb.bundle import load_bundle
from fraudit.ulb_vector import to_csv_row

pytestmark = pytest.mark.integration


def test_training_on_real_rows_beats_the_yardsticks(trained):
    test = trained.metrics["test"]
    assert test["classifier"]["auprc"] > 0.75
    assert test["classifier"]["roc_auc"] > 0.95
    assert test["anomaly"]["auprc"] > test["isolation_forest"]["auprc"]
    split = trained.metrics["split"]
    assert split["train"]["time_to"] < split["validation"]["time_from"]
    assert split["validation"]["time_to"] < split["test"]["time_from"]


def test_policy_respects_the_review_budget_and_decides_sensibly(trained):
    mix = trained.metrics["test"]["decisions"]
    assert mix["genuine"]["approve"] > 0.95  # genuine customers mostly pass
    assert mix["fraud"]["decline"] + mix["fraud"]["review"] > 0.8
    bundle = load_bundle(trained.path.parent, trained.version)
    assert bundle.policy.model_version == trained.version
    assert 0 < bundle.policy.review_threshold <= bundle.policy.decline_threshold < 1


def test_artifacts_are_shaped_for_sagemaker(trained):
    with tarfile.open(trained.path / "classifier/model.tar.gz") as tar:
        assert set(tar.getnames()) == {"xgboost-model", "code/inference.py", "code/csv_rows.py"}
        raw = tar.extractfile("xgboost-model").read()
    assert raw.startswith(b"{")  # JSON, which the container's xgboost 3.0 reads
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    with tarfile.open(trained.path / "anomaly/model.tar.gz") as tar:
        assert set(tar.getnames()) == {
            "anomaly.json",
            "code/inference.py",
            "code/csv_rows.py",
            "code/requirements.txt",
        }
    card = (trained.path / "MODEL_CARD.md").read_text()
    assert trained.version in card
    assert "Intended use" in card
    manifest = json.loads((trained.path / "manifest.json").read_text())
    assert manifest["sagemaker"]["xgboost_container"] == "3.0-5"
    assert manifest["data"]["rows"] == 24_761


def test_sagemaker_hooks_score_like_the_package(trained, dev_csv, tmp_path):
    with tarfile.open(trained.path / "anomaly/model.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    model = anomaly_inference.model_fn(str(tmp_path))
    rows = load_creditcard(dev_csv).X[:5]
    body = "\n".join(to_csv_row(row) for row in rows)
    out, media = anomaly_inference.transform_fn(model, body, "text/csv", "application/json")
    assert media == "application/json"
    bundle = load_bundle(trained.path.parent, trained.version)
    expected = bundle.anomaly.score(rows)
    assert [s["score"] for s in json.loads(out)["scores"]] == pytest.approx(expected.tolist())
    with pytest.raises(ValueError, match="text/csv"):
        anomaly_inference.transform_fn(model, body, "application/json", "application/json")


def test_time_is_not_used_by_the_classifier(trained, dev_csv):
    bundle = load_bundle(trained.path.parent, trained.version)
    assert "Time" not in bundle.classifier.get_score(importance_type="weight")
    rows = temporal_split(load_creditcard(dev_csv)).test.X[:50].copy()
    shifted = rows.copy()
    shifted[:, 0] += 500_000  # far outside anything seen in training
    np.testing.assert_array_equal(
        predict(bundle.classifier, rows), predict(bundle.classifier, shifted)
    )


def test_a_damaged_artifact_is_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "models"
    shutil.copytree(trained.path.parent, copy)
    with open(copy / trained.version / "policy.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_bundle(copy, trained.version)
    with pytest.raises(ArtifactError, match="not found"):
        load_bundle(copy, "no-such-version")
    with pytest.raises(ArtifactError, match="fraudit train"):
        load_bundle(tmp_path / "empty")


def test_the_shipped_model_is_refit_on_every_row_by_the_rule_level_a_chose(trained, bundle):
    from fraudit.models.classifier import Recipe

    metrics = trained.metrics
    levels, split = metrics["protocol"], metrics["split"]
    recipe = Recipe.from_dict(metrics["classifier"]["recipe"])
    assert levels["a"]["rows"] == recipe.rows == split["train"]["rows"]
    assert levels["a"]["trees"] == recipe.trees
    assert levels["b"]["rows"] == split["train"]["rows"] + split["validation"]["rows"]
    assert levels["c"]["rows"] == 24_761
    for name in ("b", "c"):
        assert levels[name]["trees"] == recipe.trees_for(levels[name]["rows"])
    # The shipped booster is the level (c) refit, not the 60% model.
    assert bundle.classifier.num_boosted_rounds() == levels["c"]["trees"] > recipe.trees
    # Out-of-time folds of (b) predict only rows before the test slice; those of (c) the
    # later half of every row, each fold trained on fewer rows than the next.
    for name, rows in (("b", levels["b"]["rows"]), ("c", 24_761)):
        folds = levels[name]["out_of_time"]["folds"]
        assert sum(f["test_rows"] for f in folds) == levels[name]["out_of_time"]["rows"]
        assert folds[-1]["train_rows"] + folds[-1]["test_rows"] == rows
        assert [f["train_rows"] for f in folds] == sorted({f["train_rows"] for f in folds})
    card = (trained.path / "MODEL_CARD.md").read_text()
    for level in ("(a) choose", "(b) report", "(c) ship"):
        assert level in card


def test_calibration_is_fitted_out_of_time_and_improves_the_brier_score(trained, bundle):
    calibration = bundle.policy.calibration
    assert calibration is not None
    assert calibration.slope > 0
    report = trained.metrics["test"]["calibration"]
    # Raw probabilities are at the training slice's fraud rate (~8x production): calibrated
    # ones are not, which the production-weighted Brier score sees.
    assert report["brier_calibrated"] < report["brier_raw"]
    top_raw = report["reliability_raw"][-1]
    assert top_raw["mean_predicted"] > 0.8
    assert (
        bundle.policy.validation["out_of_time_rows"]
        == (trained.metrics["protocol"]["c"]["out_of_time"]["rows"])
    )


def test_the_test_slice_records_how_the_anomaly_review_rate_carries_over(trained):
    policy = trained.metrics["test"]["policy"]
    assert policy["anomaly_review_rate_target"] > 0
    # Set on the level's own rows, checked on later ones: same order of magnitude.
    assert 0 < policy["anomaly_flagged_genuine"] < 10 * policy["anomaly_review_rate_target"]
