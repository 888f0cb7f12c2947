"""Local model server speaking the SageMaker inference contract, for both endpoints.

- `GET /ping`                                  health, as a SageMaker container answers it
- `POST /invocations`                          the default endpoint (container contract)
- `POST /endpoints/{name}/invocations`         the runtime API path boto3's invoke_endpoint
                                               uses with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME
Bodies are `text/csv`, one or many rows of the family's features (each family's serving module,
`fraudit.models.<family>.serving`, parses its rows and names its endpoints). The classifier
answers like
SageMaker's built-in XGBoost container (one probability per line, or JSON
`{"predictions": [{"score": p}]}` for Accept: application/json); the anomaly endpoint like
Random Cut Forest (`{"scores": [{"score": s}]}`). Errors carry `x-amzn-ErrorType`, so boto3
raises a ClientError with a meaningful code.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.families import ModelFamily, families
from fraudit.http_server import BoundedThreadingHTTPServer, GuardedRequestHandler
from fraudit.models.classifier import predict
from fraudit.models.in_process import AnomalyTerms
from fraudit.models.layout import family_root, has_model, shadow_model_dir
from fraudit.models.sagemaker_code.classifier_inference import explanation_body, explanations
from fraudit.models.sagemaker_code.csv_rows import EXPLAIN_MEDIA_TYPE
from fraudit.settings import Settings
from fraudit.ulb_vector import FeatureError

log = logging.getLogger("fraudit.models.server")
_ENDPOINT_PATH = re.compile(r"^/endpoints/([A-Za-z0-9](?:-*[A-Za-z0-9]){0,62})/invocations$")


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str  # "classifier" | "anomaly"
    score: Callable[[np.ndarray], np.ndarray]
    parse: Callable[[bytes], np.ndarray]
    rows: str  # what a row is, for error messages
    model_version: str
    # The explain answer (Accept: EXPLAIN_MEDIA_TYPE): fraudit.scoring.sagemaker parses it.
    explain: Callable[[np.ndarray], bytes]

    def respond(self, rows: np.ndarray, accept: str) -> tuple[bytes, str]:
        if accept == EXPLAIN_MEDIA_TYPE:
            return self.explain(rows), EXPLAIN_MEDIA_TYPE
        scores = self.score(rows)
        if self.kind == "classifier":
            if accept == "application/json":
                body = {"predictions": [{"score": float(s)} for s in scores]}
                return json.dumps(body).encode(), "application/json"
            return "\n".join(repr(float(s)) for s in scores).encode(), "text/csv"
        if accept == "text/csv":
            return "\n".join(repr(float(s)) for s in scores).encode(), "text/csv"
        return json.dumps(
            {"scores": [{"score": float(s)} for s in scores]}
        ).encode(), "application/json"


def anomaly_explanation_body(scores: np.ndarray, terms: dict[str, np.ndarray]) -> bytes:
    """The anomaly endpoint's explain answer: per row its score and its detector's terms."""
    items = [
        {"score": float(s), "terms": {name: float(values[i]) for name, values in terms.items()}}
        for i, s in enumerate(scores)
    ]
    return json.dumps({"explanations": items}).encode()


def endpoint_pair(
    names: tuple[str, str],
    classifier: xgb.Booster,
    features: tuple[str, ...],
    anomaly: tuple[Callable[[np.ndarray], np.ndarray], AnomalyTerms],
    parse: Callable[[bytes], np.ndarray],
    rows: str,
    version: str,
) -> list[Endpoint]:
    """A family's two endpoints: (classifier, anomaly) names, scored on the same rows;
    `features` names the classifier's columns, `anomaly` is the detector's scores and terms."""
    score_anomaly, anomaly_terms = anomaly
    return [
        Endpoint(
            names[0],
            "classifier",
            lambda x: predict(classifier, x),
            parse,
            rows,
            version,
            lambda x: explanation_body(explanations(classifier, x), features),
        ),
        Endpoint(
            names[1],
            "anomaly",
            score_anomaly,
            parse,
            rows,
            version,
            lambda x: anomaly_explanation_body(score_anomaly(x), anomaly_terms(x)),
        ),
    ]


def family_endpoints(
    model_dir: Path,
    settings: Settings,
    *,
    only: ModelFamily | None = None,
    version: str | None = None,
) -> list[Endpoint]:
    """Two endpoints per declared family with a trained model (or `only` that family, which
    must have one), named by the family's settings, and two more for its candidate in shadow
    when one is set. `version` pins `only`'s version, else the first family's (as `fraudit
    serve-models --version` always has)."""
    chosen = [only] if only is not None else list(families())
    endpoints: list[Endpoint] = []
    for served in chosen:
        if only is None and not has_model(family_root(model_dir, served)):
            continue
        configured = settings.family(served)
        pinned = version if served is chosen[0] else None
        endpoints += served.serving().endpoints(
            model_dir,
            pinned or configured.model_version,
            configured.classifier_endpoint,
            configured.anomaly_endpoint,
        )
        if configured.shadow_model_version:  # its candidate, as SageMaker would serve it
            endpoints += served.serving().endpoints(
                shadow_model_dir(model_dir, configured),
                configured.shadow_model_version,
                *configured.shadow_endpoints,
            )
    return endpoints


class ModelServer(BoundedThreadingHTTPServer):
    """Serves `endpoints`; the first is also the container's default `/invocations`."""

    def __init__(
        self, address: tuple[str, int], endpoints: list[Endpoint], *, max_body_bytes: int
    ) -> None:
        if not endpoints:
            raise ValueError("no endpoints to serve")
        names = [e.name for e in endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names must differ: {names}")
        self.max_body_bytes = max_body_bytes
        self.endpoints = {e.name: e for e in endpoints}
        self.default_endpoint = endpoints[0].name
        super().__init__(address, ModelRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"


class ModelRequestHandler(GuardedRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def refuse(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._error(RequestError(status, "ValidationError", message), headers)

    def _error(self, error: RequestError, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"message": error.message, "Message": error.message}).encode()
        headers = {"x-amzn-ErrorType": error.error_type, **(headers or {})}
        self._send(error.status, body, "application/json", headers)

    def do_GET(self) -> None:
        if self.path in ("/ping", "/ping/"):
            body = json.dumps(
                {
                    "status": "ok",
                    "model_version": self.server.endpoints[
                        self.server.default_endpoint
                    ].model_version,
                    "endpoints": {
                        name: e.model_version for name, e in sorted(self.server.endpoints.items())
                    },
                }
            ).encode()
            self._send(HTTPStatus.OK, body, "application/json")
        else:
            self._error(
                RequestError(
                    HTTPStatus.NOT_FOUND, "UnknownOperationException", f"no route GET {self.path}"
                )
            )

    def do_POST(self) -> None:
        started = time.perf_counter()
        try:
            endpoint = self._route()
            body = self.read_body(self.server.max_body_bytes, required=True)
            if body is None:
                return  # refused and answered
            content_type = _media_type(self.headers.get("Content-Type"))
            if content_type != "text/csv":
                raise RequestError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    "ModelError",
                    f"unsupported content type {content_type or '(none)'!r}: "
                    f"send text/csv rows of {endpoint.rows}",
                )
            try:
                rows = endpoint.parse(body)
            except FeatureError as exc:
                raise RequestError(HTTPStatus.BAD_REQUEST, "ModelError", str(exc)) from None
            accept = _media_type(self.headers.get("Accept"))
            payload, media = endpoint.respond(rows, accept)
            self._send(
                HTTPStatus.OK, payload, media, {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
            )
            log.debug(
                "%s: %d rows in %.2f ms",
                endpoint.name,
                len(rows),
                (time.perf_counter() - started) * 1e3,
            )
        except RequestError as error:
            self._error(error)
        except Exception:  # a bug must answer 500, not drop the connection
            log.exception("inference failed")
            self._error(
                RequestError(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    "internal error while scoring",
                )
            )

    def _route(self) -> Endpoint:
        path = self.path.split("?", 1)[0]
        if path == "/invocations":
            return self.server.endpoints[self.server.default_endpoint]
        match = _ENDPOINT_PATH.match(path)
        if not match:
            self.drain(self.server.max_body_bytes)
            raise RequestError(
                HTTPStatus.NOT_FOUND, "UnknownOperationException", f"no route POST {path}"
            )
        endpoint = self.server.endpoints.get(match.group(1))
        if endpoint is None:
            self.drain(self.server.max_body_bytes)
            raise RequestError(
                HTTPStatus.NOT_FOUND,
                "ValidationError",
                f"Endpoint {match.group(1)} not found; this server has "
                f"{', '.join(sorted(self.server.endpoints))}",
            )
        return endpoint


def start_in_thread(server: ModelServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="model-server", daemon=True)
    thread.start()
    return thread
