"""The Chalice application: routes and request guards around PredictService.

`app/chalice/app.py` (the Lambda) and `fraudit api` (local) serve the object this returns.
The service is built on first use, not at import: `chalice package` imports the app to
discover its routes without any AWS configuration.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from fraudit.api.plan import ApiResult, error
from fraudit.api.service import PredictService
from fraudit.deadline import Deadline
from fraudit.settings import Settings, get_settings

log = logging.getLogger("fraudit.api")
APP_NAME = "fraudit-api"
API_KEY_HEADER = "x-api-key"
# Time kept back from the Lambda's remaining time to serialise and send the answer.
LAMBDA_ANSWER_MARGIN_SECONDS = 0.5
# Chalice answers 415 itself for types a route does not list; listing the usual ones lets
# our handler answer with our error shape and say what to send instead.
ACCEPTED_CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "text/csv",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "multipart/form-data",
    "application/xml",
    "text/xml",
]


class ThreadSafeChalice(Chalice):
    """Chalice keeps the current request on the app object; with a threaded local server
    two requests would share it. Thread-local storage makes that safe (and is free on
    Lambda, where one process handles one request at a time)."""

    _local = threading.local()

    @property
    def current_request(self) -> Any:
        return getattr(self._local, "current_request", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        self._local.current_request = value

    @property
    def lambda_context(self) -> Any:
        return getattr(self._local, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._local.lambda_context = value


class _Once:
    """Build something on first use, once, even under concurrent first requests."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: Any = None
        self._built = False

    def get(self) -> Any:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._build()
                    self._built = True
        return self._value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes | None) -> Any:
    if not raw:
        raise ValueError("the body is empty")
    # Strict JSON: NaN/Infinity are not JSON, and must not reach a model as numbers.
    return json.loads(raw, parse_constant=_reject_constant)


def _media_type(headers: Any) -> str:
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def _service_source(
    service: PredictService | Callable[[], PredictService] | None, settings: Settings
) -> _Once:
    if service is None:
        from fraudit.api.wiring import build_service

        return _Once(lambda: build_service(settings))
    if isinstance(service, PredictService):
        return _Once(lambda: service)
    return _Once(service)


class ApiKeySource:
    """The expected key, re-read every `refresh_seconds` so a rotated secret takes effect
    without a cold start. Fails closed: if a re-read fails, the last good key stays in
    force; if there never was one, requests get a 503, never an open API."""

    def __init__(
        self,
        read: Callable[[], str | None],
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._key: str | None = None
        self._read_at: float | None = None

    def get(self) -> str | None:
        now = self._clock()
        if self._read_at is not None and now - self._read_at < self._refresh:
            return self._key
        with self._lock:
            if self._read_at is None or now - self._read_at >= self._refresh:
                try:
                    self._key = self._read()
                except Exception:
                    if self._read_at is None:
                        raise
                    log.exception("API key refresh failed; keeping the current key")
                self._read_at = now
        return self._key


def _key_source(api_key: str | Callable[[], str | None] | None, settings: Settings) -> ApiKeySource:
    forever = float("inf")
    if api_key is None:
        from fraudit.api.wiring import resolve_api_key

        return ApiKeySource(lambda: resolve_api_key(settings), settings.api_key_refresh_seconds)
    if callable(api_key):
        return ApiKeySource(api_key, settings.api_key_refresh_seconds)
    return ApiKeySource(lambda: api_key or None, forever)


def request_deadline(settings: Settings, context: Any) -> Deadline:
    """The configured deadline, shortened to what the Lambda invocation has left (less a
    margin to send the answer)."""
    seconds = settings.api_deadline_seconds
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        seconds = min(seconds, remaining_ms() / 1e3 - LAMBDA_ANSWER_MARGIN_SECONDS)
    return Deadline.after(max(seconds, 0.0))


def guard(request: Any, expected_key: str | None, max_body_bytes: int) -> ApiResult | Any:
    """401 / 415 / 413 / 400 before any work; else the parsed JSON payload."""
    if expected_key is not None:
        given = request.headers.get(API_KEY_HEADER) or ""
        if not hmac.compare_digest(given.encode(), expected_key.encode()):
            return error(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header")
    media = _media_type(request.headers)
    if media != "application/json" and not media.endswith("+json"):
        return error(
            415,
            "unsupported_media_type",
            f"send the body as JSON with Content-Type: application/json "
            f"(got {media or 'no content type'!r})",
        )
    raw = request.raw_body
    if raw is not None and len(raw) > max_body_bytes:
        return error(
            413,
            "payload_too_large",
            f"body of {len(raw)} bytes exceeds the {max_body_bytes}-byte limit",
        )
    try:
        return parse_json_body(raw)
    except (ValueError, RecursionError) as exc:
        return error(400, "invalid_json", f"the body is not valid JSON: {exc}")


def _route_labels(
    app: Chalice,
    respond: Callable[[str, Callable[[Any, Deadline], ApiResult]], Response],
    service_once: Any,
) -> None:
    """`POST /labels`: published to the stream through the service's publisher."""

    @app.route("/labels", methods=["POST"], content_types=ACCEPTED_CONTENT_TYPES)
    def labels() -> Response:
        from fraudit.api.labels import LabelIntake

        return respond(
            "/labels",
            lambda body, deadline: LabelIntake(service_once.get().publisher).submit(body, deadline),
        )


def create_app(
    service: PredictService | Callable[[], PredictService] | None = None,
    *,
    settings: Settings | None = None,
    api_key: str | Callable[[], str | None] | None = None,
) -> Chalice:
    """The app. `service`/`api_key` may be given (tests, local server) or left to be built
    from settings at the first request (Lambda cold start)."""
    settings = settings or get_settings()
    app = ThreadSafeChalice(app_name=APP_NAME)
    app.log.setLevel(logging.WARNING)  # our own structured request log replaces Chalice's
    service_once = _service_source(service, settings)
    key_source = _key_source(api_key, settings)

    def expected_key() -> str | ApiResult | None:
        try:
            return key_source.get()
        except Exception:
            log.exception("API key unavailable: refusing requests")
            return error(
                503,
                "auth_unavailable",
                "the API cannot check API keys right now; nothing was recorded, retry later",
            )

    def respond(route: str, work: Callable[[Any, Deadline], ApiResult]) -> Response:
        started = time.perf_counter()
        context = app.lambda_context
        request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        deadline = request_deadline(settings, context)
        try:
            key = expected_key()
            if isinstance(key, ApiResult):
                result = key
            else:
                payload = guard(app.current_request, key, settings.api_max_body_bytes)
                result = payload if isinstance(payload, ApiResult) else work(payload, deadline)
        except Exception:  # a bug: answer 500 with no internals, log the traceback
            log.exception(
                "unhandled error", extra={"fields": {"request_id": request_id, "route": route}}
            )
            result = error(500, "internal_error", "internal error; it has been logged")
        log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "route": route,
                    "status": result.status,
                    "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
                    **result.log,
                }
            },
        )
        return Response(
            body=json.dumps(result.body),
            status_code=result.status,
            headers={"Content-Type": "application/json", "x-request-id": request_id},
        )

    @app.route("/predict", methods=["POST"], content_types=ACCEPTED_CONTENT_TYPES)
    def predict() -> Response:
        return respond(
            "/predict", lambda body, deadline: service_once.get().predict(body, deadline)
        )

    @app.route("/predict/batch", methods=["POST"], content_types=ACCEPTED_CONTENT_TYPES)
    def predict_batch() -> Response:
        return respond(
            "/predict/batch",
            lambda body, deadline: service_once.get().predict_batch(body, deadline),
        )

    _route_labels(app, respond, service_once)

    @app.route("/health", methods=["GET"])
    def health() -> Response:
        try:
            body, status = service_once.get().health(), 200
        except Exception as exc:  # e.g. no policy where settings point: say so, cheaply
            log.exception("health: service not ready")
            body, status = {"status": "unavailable", "reason": type(exc).__name__}, 503
        key = expected_key()
        body["api_key_required"] = True if isinstance(key, ApiResult) else key is not None
        return Response(
            body=json.dumps(body), status_code=status, headers={"Content-Type": "application/json"}
        )

    @app.route("/openapi.json", methods=["GET"])
    def openapi() -> Response:
        from fraudit.api.openapi import build_openapi

        served: set[str] | None
        try:
            served = set(service_once.get().models)
        except Exception:  # not configured: /health says why; document the full API
            served = None
        document = build_openapi(settings, key_required=expected_key() is not None, served=served)
        return Response(
            body=json.dumps(document),
            status_code=200,
            headers={"Content-Type": "application/json"},
        )

    return app
