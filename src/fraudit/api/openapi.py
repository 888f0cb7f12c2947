"""OpenAPI 3.1 document of the API, generated from the pydantic contracts.

`docs/openapi.json` is this document; a test regenerates it and fails on any difference,
and another checks every Chalice route is documented."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fraudit import __version__
from fraudit.contracts import PredictRequest, PredictResponse
from fraudit.settings import Settings


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_request")
    message: str
    details: list[dict[str, str]] | None = Field(
        None, description="one {field, message} per invalid field"
    )
    event_id: str | None = None


class BatchRequest(BaseModel):
    transactions: list[PredictRequest] = Field(min_length=1, max_length=500)


class BatchResponse(BaseModel):
    results: list[dict[str, Any]] = Field(
        description="one per transaction, in request order: a PredictResponse or an "
        "ErrorBody, each with its own status"
    )


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (PredictRequest, PredictResponse, ErrorBody, BatchRequest, BatchResponse):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def build_openapi(settings: Settings | None = None) -> dict[str, Any]:
    errors = {
        "400": _json("ErrorBody", "invalid JSON or invalid fields (every one named)"),
        "401": _json("ErrorBody", "API key required and missing or wrong"),
        "413": _json("ErrorBody", "body larger than FRAUDIT_API_MAX_BODY_BYTES"),
        "415": _json("ErrorBody", "body is not application/json"),
    }
    security: list[dict[str, list[str]]] = [{"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fraudit inference API",
            "version": __version__,
            "description": "Scores card transactions with two models, decides "
            "approve/review/decline and records every scored event on "
            "a Kinesis stream. A 200 means the event is on the stream.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Score one transaction",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("PredictResponse", "scored, decided, recorded"),
                        **errors,
                        "503": _json(
                            "ErrorBody",
                            "a model endpoint or the stream is "
                            "unavailable: nothing was recorded; retry with "
                            "the same transaction_id",
                        ),
                    },
                }
            },
            "/predict/batch": {
                "post": {
                    "summary": "Score up to 500 transactions in one call",
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
            "schemas": _schemas(),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }
