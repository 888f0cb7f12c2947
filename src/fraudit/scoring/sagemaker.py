"""Scorer over the two SageMaker endpoints (or the local model server: same boto3 calls,
pointed elsewhere by AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).

Both endpoints are called at once: the anomaly call runs on a worker thread while the
classifier call runs on the caller's, so a request waits for the slower of the two rather
than their sum. Timeouts and bounded retries live in the botocore config.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraudit.scoring.base import Scores, ScoringUnavailable
from fraudit.ulb_vector import FeatureVector, to_csv_row


def parse_classifier(body: bytes, expected: int) -> list[float]:
    """Built-in XGBoost answers: one probability per line (or comma-separated), or JSON."""
    text = body.decode("utf-8").strip()
    if text.startswith("{"):
        values = [p["score"] for p in json.loads(text)["predictions"]]
    else:
        values = [float(v) for v in text.replace(",", "\n").split()]
    if len(values) != expected or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(
            f"classifier returned {len(values)} values for {expected} rows or a "
            "value outside [0, 1]"
        )
    return [float(v) for v in values]


def parse_anomaly(body: bytes, expected: int) -> list[float]:
    """Random Cut Forest answers: {"scores": [{"score": s}, ...]}."""
    values = [float(s["score"]) for s in json.loads(body)["scores"]]
    if len(values) != expected:
        raise ValueError(f"anomaly detector returned {len(values)} scores for {expected} rows")
    return values


class SageMakerScorer:
    def __init__(
        self, client: Any, *, classifier_endpoint: str, anomaly_endpoint: str, model_version: str
    ) -> None:
        self._client = client
        self._classifier = classifier_endpoint
        self._anomaly = anomaly_endpoint
        self.model_version = model_version
        # One worker per concurrent request is enough: the caller's thread does the other call.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="anomaly-call")

    def _invoke(self, endpoint: str, body: bytes, accept: str) -> bytes:
        try:
            response = self._client.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType="text/csv", Accept=accept
            )
            return response["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ScoringUnavailable(
                f"{endpoint}: {error.get('Code', 'error')}: {error.get('Message', '')}".strip()
            ) from None
        except BotoCoreError as exc:  # timeouts, refused connections, after retries
            raise ScoringUnavailable(f"{endpoint}: {type(exc).__name__}: {exc}") from None

    def score(self, rows: Sequence[FeatureVector]) -> list[Scores]:
        if not rows:
            return []
        body = "\n".join(to_csv_row(r) for r in rows).encode()
        anomaly_call = self._pool.submit(self._invoke, self._anomaly, body, "application/json")
        try:
            classifier_body = self._invoke(self._classifier, body, "text/csv")
        finally:
            anomaly_body = anomaly_call.result()  # always collected: no orphaned call
        try:
            proba = parse_classifier(classifier_body, len(rows))
            anomaly = parse_anomaly(anomaly_body, len(rows))
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringUnavailable(f"unusable model answer: {exc}") from None
        return [Scores(p, a) for p, a in zip(proba, anomaly, strict=True)]

    def close(self) -> None:
        self._pool.shutdown(wait=False)
