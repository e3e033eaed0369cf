"""`/openapi.json`: FastAPI's schema, completed.

- the body of POST /v1/reports (validated by the library, not by FastAPI): one message of
  any kind, or an array of them, each kind a schema with examples;
- every error as `application/problem+json` (the `Problem` schema), for each status an
  operation can answer;
- the bodies and answers of the intake operations (validated by the library);
- the bearer token as the security scheme of every `/v1` operation.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from deployledger.http.api import schemas

REF = "#/components/schemas/{model}"
PROBLEM_STATUSES = {
    400: "The body is not valid JSON",
    401: "A token is missing, malformed, unknown or revoked",
    403: "The token lacks the scope the operation needs",
    404: "No such workload, or a tenant the token does not hold",
    408: "The body did not arrive in time",
    413: "The body is over the size limit (8 MiB by default)",
    415: "The body is not JSON",
    422: "Invalid request: every problem listed; nothing was stored",
    503: (
        "The store is unavailable: send it again after `Retry-After` seconds with the same"
        " key or messageId (a retry of a commit that did land answers 200, a duplicate)"
    ),
}
REPORTS = "/v1/reports"
INTAKE = ("/v1/intake/flux", "/v1/intake/cloudevents")
STATUSES = {
    ("post", REPORTS): (400, 401, 403, 404, 408, 413, 415, 422, 503),
    ("post", INTAKE[0]): (400, 401, 403, 404, 408, 413, 415, 422, 503),
    ("post", INTAKE[1]): (400, 401, 403, 404, 408, 413, 422, 503),
    ("get", "/v1/workloads/{tenant}/{rtId}"): (401, 403, 404, 422, 503),
    ("get", "/v1/workloads/{tenant}/{rtId}/history"): (401, 403, 404, 422, 503),
}
READ_STATUSES = (401, 403, 422, 503)


def _ref(model: type[Any]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": PROBLEM_STATUSES[status],
        "content": {"application/problem+json": {"schema": _ref(schemas.Problem)}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
        }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def _reports_operation(operation: dict[str, Any]) -> None:
    message = {"oneOf": [_ref(m) for m in schemas.BODY_MODELS]}
    examples: dict[str, dict[str, Any]] = {
        kind: {"summary": f"one {kind}", "value": example}
        for kind, example in (
            ("outcome", schemas.OUTCOME_EXAMPLE),
            ("request", schemas.REQUEST_EXAMPLE),
            ("progress", schemas.PROGRESS_EXAMPLE),
            ("undeploy", schemas.UNDEPLOY_EXAMPLE),
        )
    }
    examples["batch"] = {
        "summary": "an array: all or nothing",
        "value": [schemas.REQUEST_EXAMPLE, schemas.PROGRESS_EXAMPLE, schemas.OUTCOME_EXAMPLE],
    }
    operation["requestBody"] = {
        "required": True,
        "description": "One message (an object) or an array of them (all or nothing).",
        "content": {
            "application/json": {
                "schema": {"oneOf": [message, {"type": "array", "minItems": 1, "items": message}]},
                "examples": examples,
            }
        },
    }
    receipts = {"oneOf": [_ref(schemas.Receipt), {"type": "array", "items": _ref(schemas.Receipt)}]}
    content = {"application/json": {"schema": receipts}}
    operation["responses"] = {
        "201": {
            "description": "Recorded: the receipts (an array for an array body)",
            "content": content,
        },
        "200": {
            "description": "Every message was already recorded (duplicates)",
            "content": content,
        },
    }


def _intake_operation(operation: dict[str, Any], path: str) -> None:
    if path == INTAKE[0]:
        body = {
            "description": "One Flux notification-controller event (provider generic or "
            "generic-hmac; see docs/intake.md).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    else:
        any_json: dict[str, Any] = {}
        body = {
            "description": "CloudEvents: structured (application/cloudevents+json), batch "
            "(application/cloudevents-batch+json) or binary mode (ce-* headers; the data as "
            "the body). See docs/intake.md.",
            "content": {
                "application/cloudevents+json": {"schema": {"type": "object"}},
                "application/cloudevents-batch+json": {
                    "schema": {"type": "array", "items": {"type": "object"}}
                },
                "application/json": {"schema": any_json},
            },
        }
    operation["requestBody"] = {"required": True, **body}
    content = {"application/json": {"schema": _ref(schemas.IntakeAnswer)}}
    operation["responses"] = {
        "201": {
            "description": "Recorded: the receipts, and the events ignored",
            "content": content,
        },
        "200": {
            "description": "Every message was already recorded (duplicates)",
            "content": content,
        },
        "202": {"description": "Every event was ignored: nothing stored", "content": content},
    }


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    defs = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        defs.pop(unused, None)
    models: list[type[BaseModel]] = [
        *schemas.BODY_MODELS,
        schemas.Receipt,
        schemas.Problem,
        schemas.IntakeAnswer,
    ]
    _, extra = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs.update(extra.get("$defs", {}))
    for name, definition in defs.items():
        # FastAPI drops every null from its output, the nulls of the examples too: put the
        # examples back as the models have them.
        model = getattr(schemas, name, None)
        extra_config = getattr(model, "model_config", {}).get("json_schema_extra")
        if isinstance(extra_config, dict) and extra_config.get("examples"):
            definition["examples"] = copy.deepcopy(extra_config["examples"])
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token of `deployledger token create` (dlt_...)",
        }
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if (method, path) == ("post", REPORTS):
                _reports_operation(operation)
            if method == "post" and path in INTAKE:
                _intake_operation(operation, path)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if not path.startswith("/v1/"):
                continue
            operation["security"] = [{"bearer": []}]
            for status in STATUSES.get((method, path), READ_STATUSES):
                responses[str(status)] = _problem(status)
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed schema at /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
