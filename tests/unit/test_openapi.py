"""docs/openapi.yaml: current (what `make openapi` writes), a valid OpenAPI 3.1 document,
and a description of every REST route as its handler runs it."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import yaml
from schemathesis.core.result import Ok

from app import REST_ROUTES
from chalicelib.errors import BadRequest, RateLimited, http_error_body
from chalicelib.handlers.rest import COMMON_REFUSALS, OPERATIONS
from chalicelib.models.bodies import ErrorBody
from infra import openapi


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(openapi.DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_make_openapi_writes() -> None:
    assert openapi.DOCUMENT.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.yaml is stale: run `make openapi`"
    )
    assert openapi.main(["--check"]) == 0


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # the OpenAPI 3.1 meta-schema
    for name, component in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), name  # JSON Schema 2020-12
    results = list(schema.get_all_operations())
    loaded = [result.ok().label for result in results if isinstance(result, Ok)]
    assert len(loaded) == len(results) == 2 * len(REST_ROUTES)


def test_every_route_is_a_bearer_post_with_its_models(document: dict[str, Any]) -> None:
    assert set(OPERATIONS) == set(REST_ROUTES.values())
    assert list(document["paths"]) == list(REST_ROUTES)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    for path, name in REST_ROUTES.items():
        post, options = document["paths"][path]["post"], document["paths"][path]["options"]
        op = OPERATIONS[name]
        assert post["operationId"] == name
        assert post["security"] == [{"bearer": []}]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{op.request.__name__}"}
        ok = post["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{op.reply.__name__}"}
        statuses = {int(s) for s in post["responses"]}
        assert statuses == {200} | op.refusals and statuses >= COMMON_REFUSALS
        assert options["security"] == [] and set(options["responses"]) == {"204", "403", "415"}


def test_request_schemas_refuse_unknown_fields_and_replies_list_every_field(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for op in OPERATIONS.values():
        assert schemas[op.request.__name__]["additionalProperties"] is False
        reply = schemas[op.reply.__name__]
        assert set(reply["required"]) == set(reply["properties"])
    message = schemas["Message"]
    assert "from" in message["properties"] and "sender" not in message["properties"]
    assert message["properties"]["created_at"] == {
        "format": "date-time",
        "title": "Created At",
        "type": "string",
    }


def test_error_bodies_are_the_shared_error_schema(document: dict[str, Any]) -> None:
    for err in (BadRequest("`limit`: too big"), RateLimited("slow down")):
        ErrorBody.model_validate(http_error_body(err))
    responses = document["components"]["responses"]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for status, (name, _) in openapi.REFUSALS.items():
        assert responses[name]["content"]["application/json"]["schema"] == error, status
    assert responses["RateLimited"]["headers"]["Retry-After"]["required"] is True
