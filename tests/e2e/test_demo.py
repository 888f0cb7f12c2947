from __future__ import annotations

import json
import os
import signal

import boto3
import pytest

from fraudit.features import to_csv_row
from tests.helpers import fraudit_process, free_port, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_trains_on_synthetic_data_serves_and_stops_on_ctrl_c(tmp_path, monkeypatch):
    port = free_port()
    env = {"FRAUDIT_MODEL_DIR": str(tmp_path / "models"),
           "FRAUDIT_DATASET_PATH": str(tmp_path / "absent.csv"),
           "FRAUDIT_SYNTHETIC_ROWS": "60000",
           "FRAUDIT_MODEL_SERVER_PORT": str(port)}
    log = tmp_path / "demo.log"
    process = fraudit_process(["demo"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process, timeout=300)
        # Configuration only: the same boto3 call that reaches SageMaker on AWS.
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        client = boto3.client("sagemaker-runtime", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        row = to_csv_row([10.0, *[0.0] * 28, 25.0])
        answer = client.invoke_endpoint(EndpointName="fraud-detection-anomaly-endpoint",
                                        Body=row.encode(), ContentType="text/csv")
        score = json.loads(answer["Body"].read())["scores"][0]["score"]
        assert 0 <= score < 5  # an all-average row is not anomalous
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    output = log.read_text()
    assert code == 0, output
    assert "synthetic rows" in output and "model server" in output
    assert "stopping model server" in output
    assert (tmp_path / "models" / "LATEST").is_file()
    assert not os.path.exists(tmp_path / "absent.csv")
