"""Scorer over the two SageMaker endpoints (or the local model server: same boto3 calls,
pointed elsewhere by AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).

Both endpoints are called at once on worker threads, so a request waits for the slower of
the two rather than their sum. Timeouts and bounded retries live in the botocore config;
the request's deadline bounds the wait on top of them (a call still running then is left
to finish on its thread, and the request answers 503 in time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from fraudit.aws_clients import API_POOL_SIZE
from fraudit.deadline import Deadline, no_deadline
from fraudit.scoring.base import EXPLAIN_MEDIA_TYPE, Explanation, Scores, ScoringUnavailable


def parse_classifier(body: bytes, expected: int) -> list[float]:
    """Built-in XGBoost answers: one probability per line (or comma-separated), or JSON.
    A value outside [0, 1] is returned as it is: the caller refuses that row only."""
    text = body.decode("utf-8").strip()
    if text.startswith("{"):
        values = [float(p["score"]) for p in json.loads(text)["predictions"]]
    else:
        values = [float(v) for v in text.replace(",", "\n").split()]
    if len(values) != expected:
        raise ValueError(f"classifier returned {len(values)} values for {expected} rows")
    return values


def parse_anomaly(body: bytes, expected: int) -> list[float]:
    """Random Cut Forest answers: {"scores": [{"score": s}, ...]}."""
    values = [float(s["score"]) for s in json.loads(body)["scores"]]
    if len(values) != expected:
        raise ValueError(f"anomaly detector returned {len(values)} scores for {expected} rows")
    return values


def parse_explanations(classifier: bytes, anomaly: bytes, expected: int) -> list[Explanation]:
    """Both endpoints' explain answers (EXPLAIN_MEDIA_TYPE), joined row by row."""
    model = json.loads(classifier)
    detector = json.loads(anomaly)["explanations"]
    names = tuple(str(n) for n in model["names"])
    rows = model["explanations"]
    if len(rows) != expected or len(detector) != expected:
        raise ValueError(f"explanations for {len(rows)}/{len(detector)} of {expected} rows")
    out = []
    for row, terms in zip(rows, detector, strict=True):
        values = tuple(float(v) for v in row["contributions"])
        if len(values) != len(names):
            raise ValueError(f"{len(values)} contributions for {len(names)} features")
        anomaly_terms = {str(k): float(v) for k, v in terms["terms"].items()}
        out.append(Explanation(names, values, float(row["bias"]), anomaly_terms))
    return out


class SageMakerScorer:
    def __init__(
        self,
        client: Any,
        *,
        classifier_endpoint: str,
        anomaly_endpoint: str,
        model_version: str,
        csv_row: Callable[[Any], str],  # the family's row encoding (ModelFamily.csv_row)
    ) -> None:
        self._client = client
        self._classifier = classifier_endpoint
        self._anomaly = anomaly_endpoint
        self.model_version = model_version
        self._csv_row = csv_row
        # As many calls at once as the client keeps connections; threads start as needed.
        self._pool = ThreadPoolExecutor(
            max_workers=API_POOL_SIZE, thread_name_prefix="endpoint-call"
        )

    def _role(self, endpoint: str) -> str:
        return "classifier" if endpoint == self._classifier else "anomaly detector"

    def _invoke(self, endpoint: str, body: bytes, accept: str) -> bytes:
        role = self._role(endpoint)
        try:
            response = self._client.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType="text/csv", Accept=accept
            )
            return response["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ScoringUnavailable(
                f"{endpoint}: {error.get('Code', 'error')}: {error.get('Message', '')}".strip(),
                f"the {role} endpoint answered an error",
                refused_rows=error.get("Code") == "ModelError",
            ) from None
        except ReadTimeoutError as exc:
            raise ScoringUnavailable(
                f"{endpoint}: {type(exc).__name__}: {exc}",
                f"the {role} endpoint did not answer in time",
            ) from None
        except BotoCoreError as exc:  # refused or dropped connections, after retries
            raise ScoringUnavailable(
                f"{endpoint}: {type(exc).__name__}: {exc}",
                f"the {role} endpoint could not be reached",
            ) from None

    @staticmethod
    def _collect(call: Future[bytes], endpoint: str, deadline: Deadline) -> bytes:
        try:
            remaining = deadline.remaining()
            return call.result(timeout=None if remaining == float("inf") else remaining)
        except FutureTimeout:
            raise ScoringUnavailable(
                f"{endpoint}: no answer before the request's deadline",
                "a model endpoint did not answer before the request's deadline",
            ) from None

    def _both(
        self,
        rows: Sequence[Any],
        classifier_accept: str,
        anomaly_accept: str,
        deadline: Deadline | None,
    ) -> tuple[bytes, bytes]:
        """Both endpoints' answers to the same rows, called at once."""
        deadline = deadline or no_deadline()
        body = "\n".join(self._csv_row(r) for r in rows).encode()
        anomaly_call = self._pool.submit(self._invoke, self._anomaly, body, anomaly_accept)
        classifier_call = self._pool.submit(self._invoke, self._classifier, body, classifier_accept)
        return (
            self._collect(classifier_call, self._classifier, deadline),
            self._collect(anomaly_call, self._anomaly, deadline),
        )

    def score(self, rows: Sequence[Any], deadline: Deadline | None = None) -> list[Scores]:
        if not rows:
            return []
        classifier_body, anomaly_body = self._both(rows, "text/csv", "application/json", deadline)
        try:
            proba = parse_classifier(classifier_body, len(rows))
            anomaly = parse_anomaly(anomaly_body, len(rows))
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringUnavailable(
                f"unusable model answer: {exc}",
                "a model endpoint answered something unusable",
                refused_rows=True,
            ) from None
        return [Scores(p, a) for p, a in zip(proba, anomaly, strict=True)]

    def explain(self, rows: Sequence[Any], deadline: Deadline | None = None) -> list[Explanation]:
        if not rows:
            return []
        classifier_body, anomaly_body = self._both(
            rows, EXPLAIN_MEDIA_TYPE, EXPLAIN_MEDIA_TYPE, deadline
        )
        try:
            return parse_explanations(classifier_body, anomaly_body, len(rows))
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringUnavailable(
                f"unusable explanation: {exc}",
                "a model endpoint answered an unusable explanation",
                refused_rows=True,
            ) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False)
