from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_evaluate_baseline_reports_both_recipes_side_by_side(
    trained, model_root, dev_csv, tmp_path
):
    report_path = tmp_path / "evaluation.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudit.cli",
            "evaluate",
            "--data",
            str(dev_csv),
            "--model-dir",
            str(model_root),
            "--baseline",
            "--seeds",
            "2",
            "--bootstrap",
            "100",
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "fraudit_classifier" in result.stdout
    assert "reference_recipe" in result.stdout
    assert "paired 95% CI" in result.stdout
    report = json.loads(report_path.read_text())
    comparison = report["comparison"]
    ours, ref = comparison["fraudit_classifier"], comparison["reference_recipe"]
    for summary in (ours, ref):
        lo, hi = summary["auprc_ci95"]
        assert lo <= summary["auprc"] <= hi
        assert len(summary["per_seed_auprc"]) == 2
    assert ours["auprc"] >= ref["auprc"]
    assert comparison["fraudit_anomaly"]["auprc"] > comparison["isolation_forest"]["auprc"]
    assert report["stored_model"]["model_version"] == trained.version
