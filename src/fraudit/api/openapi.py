"""OpenAPI 3.1 document of the API, generated from the pydantic contracts.

`docs/openapi.json` is this document; a test regenerates it and fails on any difference,
and another checks every Chalice route is documented."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, Field

from fraudit import __version__
from fraudit.contracts import PredictResponse
from fraudit.families import families
from fraudit.labels.contract import MAX_LABELS_PER_REQUEST, LabelsAccepted, LabelsRequest
from fraudit.settings import Settings


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_request")
    message: str
    details: list[dict[str, str]] | None = Field(
        None, description="one {field, message} per invalid field"
    )
    event_id: str | None = Field(None, description="the event's id, when it was scored")
    recorded: Literal["no", "unknown"] | None = Field(
        None,
        description="on a 503 (stream, store or model unavailable): 'no' = nothing "
        "recorded; 'unknown' = the stream or the online store did not answer in time and "
        "the transaction may be recorded (on the stream) or counted (in its card's "
        "history). Either way, retry with the same transaction_id: a repeat is recorded "
        "once.",
    )


class BatchRequest(BaseModel):
    transactions: list[Any] = Field(
        min_length=1,
        description="/predict bodies (a ULB vector or a card transaction); each is validated "
        "on its own and an invalid one gets its own 400 in `results`, never failing the "
        "others; a transaction_id may appear once per batch",
    )


class BatchItemScored(PredictResponse):
    status: Literal[200]


class BatchItemFailed(ErrorBody):
    status: Literal[400, 409, 413, 503] = Field(
        description="400 invalid fields (or a transaction_id repeated within the batch), "
        "409 a transaction_id already sent with another body, 413 event too large, 503 a "
        "model, the stream or the online store unavailable for this item (see ErrorBody)"
    )


class BatchResponse(BaseModel):
    results: list[BatchItemScored | BatchItemFailed] = Field(
        description="one per transaction, in request order, each with its own status"
    )


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    models: tuple[type[BaseModel], ...] = (
        *(f.request for f in families()),
        PredictResponse,
        ErrorBody,
        BatchRequest,
        BatchItemScored,
        BatchItemFailed,
        BatchResponse,
        LabelsRequest,
        LabelsAccepted,
    )
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _with_batch_limit(schemas: dict[str, Any], max_batch: int) -> dict[str, Any]:
    schemas["BatchRequest"]["properties"]["transactions"]["maxItems"] = max_batch
    return schemas


def build_openapi(
    settings: Settings | None = None,
    *,
    key_required: bool = False,
    served: Collection[str] | None = None,
) -> dict[str, Any]:
    """The document for an API configured by `settings`; `key_required` when it checks an
    x-api-key (then every scoring route declares it and a 401); `served` names the model
    families it has a model for (default: every declared family): /predict takes their
    requests."""
    settings = settings or Settings(_env_file=None)
    kinds = [f for f in families() if served is None or f.name in served] or list(families())
    refs = [{"$ref": f"#/components/schemas/{f.request.__name__}"} for f in kinds]
    request: dict[str, Any] = refs[0]
    if len(refs) > 1:
        request = {
            "oneOf": refs,
            "description": " or ".join(f.request_summary for f in kinds),
        }
    errors = {
        "400": _json("ErrorBody", "invalid JSON or invalid fields (every one named)"),
        "413": _json("ErrorBody", f"body larger than {settings.api_max_body_bytes} bytes"),
        "409": _json(
            "ErrorBody",
            "the transaction_id was already sent with a different body (a repeat of the "
            "same body gets the first answer again): transaction_id_conflict; or, for a "
            "card transaction, it names a transaction counted earlier whose answer is no "
            "longer kept: transaction_id_reused",
        ),
        "415": _json("ErrorBody", "body is not application/json"),
        "503": _json(
            "ErrorBody",
            "a dependency (a model endpoint, the event stream, the online store, the key "
            "store) did not answer in time: see `recorded`; retry with the same "
            "transaction_id",
        ),
    }
    if key_required:
        errors["401"] = _json("ErrorBody", "x-api-key missing or wrong")
    security: list[dict[str, list[str]]] = [{"apiKey": []}] if key_required else []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fraudit inference API",
            "version": __version__,
            "description": "Scores card transactions with two models, decides "
            "approve/review/decline and records every scored event on "
            "a Kinesis stream. A 200 means the event is on the stream. The scoring routes "
            "require an x-api-key header when the API is configured with a key (always on "
            "AWS); the document an API serves says whether it is.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Score one transaction",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": request}},
                    },
                    "responses": {
                        "200": _json("PredictResponse", "scored, decided, recorded"),
                        **errors,
                    },
                }
            },
            "/predict/batch": {
                "post": {
                    "summary": f"Score up to {settings.api_max_batch} transactions in one call",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/BatchRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("BatchResponse", "one result per transaction"),
                        **errors,
                    },
                }
            },
            "/labels": {
                "post": {
                    "summary": (
                        f"Report up to {MAX_LABELS_PER_REQUEST} labels (chargebacks, early "
                        "fraud warnings, reviews, manual labels) of earlier decisions"
                    ),
                    "description": (
                        "Accepted all or none, then stored by the stream job. A label's "
                        "id is the digest of what it says: sending it again stores it once."
                    ),
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LabelsRequest"}
                            }
                        },
                    },
                    "responses": {
                        "202": _json("LabelsAccepted", "on the event stream"),
                        **{k: v for k, v in errors.items() if k != "409"},
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Versions and configuration; calls no endpoint",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not configured (e.g. no policy)"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
        "components": {
            "schemas": _with_batch_limit(_schemas(), settings.api_max_batch),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }
