"""docs/openapi.yaml: the OpenAPI 3.1 description of the REST routes, built from the code.

The paths come from app.REST_ROUTES; each route's request and reply models, refusals and
summary from chalicelib.handlers.rest.OPERATIONS; the schemas are the pydantic models'
own JSON schemas (requests as they are validated, replies as they are serialized). So
the document cannot say anything the handlers do not do, and a test
(tests/unit/test_openapi.py) keeps the committed file equal to what this builds.

    python -m infra.openapi            # (re)write docs/openapi.yaml  (make openapi)
    python -m infra.openapi --check    # exit 1 if docs/openapi.yaml is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.yaml"
REF = "#/components/schemas/{model}"
JSON = "application/json"
# `make dev`'s gateway: port 8000, stage `dev` (PORT= moves it).
LOCAL_SERVER = "http://127.0.0.1:8000/dev"
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]

# Every status a route can refuse with: the component's name and what it means.
REFUSALS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The body is malformed (not JSON, a wrong type, an out-of-range value, an unknown "
        "field) or the request breaks a rule (docs/protocol.md). Nothing changed.",
    ),
    401: (
        "Unauthorized",
        "No bearer token, or it is malformed, expired, wrongly signed or revoked.",
    ),
    403: (
        "Forbidden",
        "Not the caller's: a `user_id` that is not the token's user, a conversation or "
        "group the caller is not in, a message the caller did not send, a change only "
        "the owner can make, or the recall window has passed.",
    ),
    404: ("NotFound", "No such group or message."),
    413: (
        "TooLarge",
        "`content` over 8,000 characters, or the body over the size limit.",
    ),
    415: ("UnsupportedMediaType", "The body is not sent as `application/json`."),
    429: (
        "RateLimited",
        "Over the caller's rate limit; retry after `Retry-After` seconds.",
    ),
    503: (
        "Unavailable",
        "MongoDB or Redis failed, or the token cannot be verified now (JWKS endpoint "
        "down). Nothing was acknowledged; retry.",
    ),
}


def _schemas() -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], str], dict[str, Any]]:
    """Each model's `$ref`, and every schema under #/components/schemas, by name."""
    from chalicelib.handlers.rest import OPERATIONS
    from chalicelib.models.bodies import ErrorBody

    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in OPERATIONS.values():
        models += [(op.request, "validation"), (op.reply, "serialization")]
    unique = list(dict.fromkeys(models))
    refs, defs = models_json_schema(unique, ref_template=REF)
    return (
        {
            cast(tuple[type[BaseModel], JsonSchemaMode], key): ref["$ref"]
            for key, ref in refs.items()
        },
        dict(sorted(defs.get("$defs", {}).items())),
    )


def _json(ref: str) -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": ref}}}


def _responses(error_ref: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (name, description) in REFUSALS.items():
        response: dict[str, Any] = {"description": description, "content": _json(error_ref)}
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the request would be allowed.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[name] = response
    granted = {
        "Access-Control-Allow-Origin": "The request's `Origin`, echoed.",
        "Access-Control-Allow-Methods": "`POST, OPTIONS`.",
        "Access-Control-Allow-Headers": "`Authorization, Content-Type`.",
        "Access-Control-Max-Age": "Seconds a browser may cache the grant.",
        "Vary": "`Origin`.",
    }
    responses["PreflightGranted"] = {
        "description": "The origin is allowed: the CORS grant, no body.",
        "headers": {
            header: {"description": text, "required": True, "schema": {"type": "string"}}
            for header, text in granted.items()
        },
    }
    responses["PreflightRefused"] = {
        "description": "The `Origin` is not on the stage's CORS allow-list (or there is none).",
        "content": _json(error_ref),
    }
    return responses


def _preflight(name: str) -> dict[str, Any]:
    return {
        "operationId": f"{name}_preflight",
        "summary": "CORS preflight: grants POST to an allowed origin.",
        "security": [],
        "parameters": [
            {"$ref": "#/components/parameters/Origin"},
            {"$ref": "#/components/parameters/AccessControlRequestMethod"},
        ],
        "responses": {
            "204": {"$ref": "#/components/responses/PreflightGranted"},
            "403": {"$ref": "#/components/responses/PreflightRefused"},
            # A preflight has no body; one sent with a Content-Type other than JSON is
            # refused before CORS is looked at (Chalice checks every route's).
            "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        },
    }


PARAMETERS = {
    "Origin": {
        "name": "Origin",
        "in": "header",
        "description": "The page's origin; allowed ones are IM_CORS_ALLOW_ORIGINS.",
        "schema": {"type": "string"},
    },
    "AccessControlRequestMethod": {
        "name": "Access-Control-Request-Method",
        "in": "header",
        "schema": {"type": "string"},
    },
}


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types
    """Plain YAML: every repeated value written out, no anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def build() -> dict[str, Any]:
    """The whole document, as plain data in a fixed order."""
    from app import REST_ROUTES
    from chalicelib.handlers.rest import OPERATIONS
    from chalicelib.models.bodies import ErrorBody

    missing = set(REST_ROUTES.values()) ^ set(OPERATIONS)
    if missing:
        raise RuntimeError(f"routes and operations differ: {sorted(missing)}")
    refs, schemas = _schemas()
    paths: dict[str, Any] = {}
    for path, name in REST_ROUTES.items():
        op = OPERATIONS[name]
        request_schema = op.request.model_json_schema()
        responses: dict[str, Any] = {
            "200": {
                "description": (op.reply.__doc__ or op.summary).strip(),
                "content": _json(refs[(op.reply, "serialization")]),
            }
        }
        for status in sorted(op.refusals):
            responses[str(status)] = {"$ref": f"#/components/responses/{REFUSALS[status][0]}"}
        paths[path] = {
            "post": {
                "operationId": name,
                "summary": op.summary,
                "security": SECURITY,
                "requestBody": {
                    # An empty body reads as `{}`: optional when every field is.
                    "required": bool(request_schema.get("required")),
                    "content": _json(refs[(op.request, "validation")]),
                },
                "responses": responses,
            },
            "options": _preflight(name),
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "serverless-im REST API",
            "version": "1.1",
            "summary": "The REST routes of serverless-im (docs/protocol.md).",
            "description": (
                "Generated by `make openapi` (infra/openapi.py) from the handlers' route "
                "table and the pydantic models; do not edit by hand. Every route is a POST "
                "of a JSON body with `Authorization: Bearer <JWT>`; every error body is "
                '`{"error": text}`.'
            ),
        },
        "servers": [
            {"url": LOCAL_SERVER, "description": "the local stack (`make dev`, stage `dev`)"}
        ],
        "security": SECURITY,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": _responses(refs[(ErrorBody, "serialization")]),
            "parameters": PARAMETERS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "A JWT whose `sub` (or IM_JWT_USER_CLAIM) is the user id; "
                        "`make -s token USER=<id>` prints one for the local stack."
                    ),
                }
            },
        },
    }


def render() -> str:
    text = yaml.dump(
        build(),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return "# Generated by `make openapi` (infra/openapi.py); do not edit.\n" + cast(str, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check docs/openapi.yaml")
    args = parser.parse_args(argv)
    text = render()
    current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else None
    if args.check:
        if current != text:
            print(f"{DOCUMENT.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
