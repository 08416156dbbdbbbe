"""The ingest request bodies as the OpenAPI schema documents them.

The ingest routes read their body themselves (size limit before parsing, NDJSON, errors that
name the batch item), so FastAPI cannot derive the request body from their signatures: it is
declared here, for clients and for the schemathesis run in the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from shadowgap.schemas import ErrorBody, TrafficEvent

_REF = "#/components/schemas/{model}"


class LiteLLMPayload(BaseModel):
    """The fields of LiteLLM's ``StandardLoggingPayload`` that shadowgap reads (others are
    accepted and ignored; see shadowgap/ingest/litellm.py for the mapping)."""

    model_config = ConfigDict(extra="allow", title="LiteLLMPayload")

    id: str = Field(description="becomes event_id")
    call_type: str | None = Field(
        default=None, description="only text generation is stored; others are skipped"
    )
    startTime: float = Field(description="epoch seconds")
    endTime: float | None = None
    completionStartTime: float | None = None
    model: str | None = None
    model_group: str | None = None
    messages: list[dict[str, Any]] | str | None = None
    model_parameters: dict[str, Any] | None = None
    response: Any = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    response_cost: float | None = None
    status: Literal["success", "failure"] | None = None
    error_str: str | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description="key metadata and routing_decision"
    )
    request_tags: list[str] | None = None
    end_user: str | None = None


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(TrafficEvent, "validation"), (LiteLLMPayload, "validation")], ref_template=_REF
    )
    defs: dict[str, Any] = top["$defs"]
    return defs


def _one_or_many(model: str) -> dict[str, Any]:
    ref = {"$ref": _REF.format(model=model)}
    return {"oneOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}


# NDJSON: one JSON object per line; items are validated like the JSON body's.
NDJSON = {"schema": {"type": "string", "description": "one JSON object per line"}}

NATIVE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One event, a JSON array of events, or NDJSON (one event per line).",
        "content": {
            "application/json": {"schema": _one_or_many("TrafficEvent")},
            "application/x-ndjson": NDJSON,
        },
    }
}

LITELLM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "LiteLLM's generic API logger payloads: one, a JSON array, or NDJSON.",
        "content": {
            "application/json": {"schema": _one_or_many("LiteLLMPayload")},
            "application/x-ndjson": NDJSON,
        },
    }
}

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong API key or signature."},
    403: {"model": ErrorBody, "description": "The key lacks the ingest scope."},
    413: {"model": ErrorBody, "description": "Body over SHADOWGAP_MAX_BODY_BYTES."},
    415: {"model": ErrorBody, "description": "A compressed body (only /v1/traces takes gzip)."},
    429: {
        "model": ErrorBody,
        "description": "Too many wrong keys from this client or for this key prefix; retry "
        "after `Retry-After` seconds (a valid key is never refused).",
    },
}


def add_body_schemas(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the component schemas the request bodies refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_schemas())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
