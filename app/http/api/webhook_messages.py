"""The `webhooks` section of the /api/v1 OpenAPI document: one entry per kind of message Roster
sends (every event of the catalog, and webhook.test), a POST whose body is the envelope every
receiver gets (app.domain.webhook_queue.records.body_of) with the kind's fields as `data`. Their
JSON Schema is generated from the kind's msgspec Struct, so the document follows the events."""

from typing import Any, cast

import msgspec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Schema,
)

from app.domain.webhooks.sender import SEND_TIMEOUT
from app.domain.webhooks.services import MESSAGE_KINDS

_SIGNATURE = r"^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$"
HEADERS = [
    Parameter(
        name="webhook-id",
        param_in="header",
        required=True,
        schema=Schema(type=OpenAPIType.STRING, pattern="^msg_[A-Za-z0-9_-]+$"),
        description="The message's id: the same on every attempt and on a resend or replay, so "
        "a receiver can drop what it already has.",
    ),
    Parameter(
        name="webhook-timestamp",
        param_in="header",
        required=True,
        schema=Schema(type=OpenAPIType.STRING, pattern="^[0-9]+$"),
        description="When this attempt was signed, in Unix seconds: refuse one too far from now.",
    ),
    Parameter(
        name="webhook-signature",
        param_in="header",
        required=True,
        schema=Schema(type=OpenAPIType.STRING, pattern=_SIGNATURE),
        description="`v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` "
        "with the endpoint's secret (Standard Webhooks); for 24 hours after a rotation, a "
        "second one by the previous secret, space-separated.",
    ),
]


def described(kind: type) -> str:
    """A kind's description: its docstring, on one line."""
    return " ".join((kind.__doc__ or "").split())


def _inlined(schema: Any, components: dict[str, Any]) -> Any:
    """The schema with every reference replaced by what it names."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(components[schema["$ref"].rsplit("/", 1)[1]], components)
        return {key: _inlined(value, components) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inlined(value, components) for value in schema]
    return schema


def data_schemas() -> dict[str, dict[str, Any]]:
    """Each kind's `data` as a JSON Schema, by the kind's name. Every field is required: a body
    carries them all (msgspec.to_builtins leaves none out), null ones included."""
    _refs, components = msgspec.json.schema_components(MESSAGE_KINDS)
    schemas = {}
    for kind in MESSAGE_KINDS:
        schema = _inlined(components[kind.__name__], components)
        schema["required"] = list(schema.get("properties", {}))
        schemas[kind.NAME] = schema
    return schemas


def webhooks() -> dict[str, PathItem]:
    """The document's `webhooks`: what an endpoint receives, by the message's type."""
    section: dict[str, PathItem] = {}
    data = data_schemas()
    for kind in MESSAGE_KINDS:
        envelope = Schema(
            type=OpenAPIType.OBJECT,
            required=["type", "version", "timestamp", "data"],
            properties={
                "type": Schema(type=OpenAPIType.STRING, const=kind.NAME),
                "version": Schema(type=OpenAPIType.INTEGER, const=kind.VERSION),
                "timestamp": Schema(
                    type=OpenAPIType.STRING,
                    format=OpenAPIFormat.DATE_TIME,
                    description="When the change was recorded (UTC, milliseconds).",
                ),
                # msgspec's JSON Schema, a dict: Litestar writes a dict into the document as is.
                "data": cast(Schema, data[kind.NAME]),
            },
        )
        operation = Operation(
            summary=kind.NAME,
            description=described(kind) or None,
            tags=["Webhooks"],
            operation_id=f"webhook_{kind.NAME.replace('.', '_')}",
            parameters=list(HEADERS),
            request_body=RequestBody(
                content={"application/json": OpenAPIMediaType(schema=envelope)}, required=True
            ),
            responses={
                "200": OpenAPIResponse(
                    description=f"Any 2xx within {SEND_TIMEOUT:g} s delivers it; anything else "
                    "(another status, a redirect, no answer) is retried later."
                )
            },
            security=[],  # signed (webhook-signature), not authenticated by a credential
        )
        section[kind.NAME] = PathItem(post=operation)
    return section
