"""The LocalStack-specific bits of `make deploy-localstack` / `make e2e-localstack`
(the deployment itself needs Docker and a LocalStack token, so it is not run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.localstack import (
    Endpoints,
    aws_environment,
    deployed_api_ids,
    e2e_command,
    rest_url,
    token_command,
    websocket_url,
)

DEPLOYED = {
    "schema_version": "2.0",
    "backend": "api",
    "resources": [
        {"name": "default-role", "resource_type": "iam_role", "role_arn": "arn:aws:iam::0:role/x"},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "r3st1d"},
        {"name": "websocket_api", "resource_type": "websocket_api", "websocket_api_id": "w5id"},
    ],
}


def test_api_ids_come_from_chalice_deployed_record():
    assert deployed_api_ids(DEPLOYED) == ("r3st1d", "w5id")


def test_a_record_without_both_apis_is_refused():
    with pytest.raises(ValueError, match="single"):
        deployed_api_ids({"resources": [DEPLOYED["resources"][1]]})


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (
            "http://localhost.localstack.cloud:4566",
            "http://r3st1d.execute-api.localhost.localstack.cloud:4566/api",
        ),
        ("http://localhost:4566", "http://localhost:4566/restapis/r3st1d/api/_user_request_"),
        ("https://ls.internal", "https://ls.internal/restapis/r3st1d/api/_user_request_"),
    ],
)
def test_rest_url_uses_a_form_localstack_serves(endpoint: str, expected: str):
    assert rest_url(endpoint, "r3st1d", "api") == expected


def test_websocket_url_adds_the_stage_to_the_reported_endpoint():
    assert websocket_url("ws://w5id.execute-api.localhost.localstack.cloud:4566/", "api") == (
        "ws://w5id.execute-api.localhost.localstack.cloud:4566/api"
    )


def test_clients_get_dummy_credentials_and_the_localstack_endpoint():
    env = aws_environment("http://localhost:4566")
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert env["AWS_ACCESS_KEY_ID"] == "test"


def test_the_remote_suite_gets_the_urls_and_a_token_command():
    # Given the URLs of a deployment and a token command for its secret
    data_dir = Path("/data/localstack")
    endpoints = Endpoints(
        ws_url="ws://w/api",
        rest_url="http://r/api",
        token_cmd=token_command("/venv/bin/python", data_dir),
    )
    # When the suite is invoked
    command = e2e_command(endpoints)
    # Then it runs in its remote mode against them
    assert command == [
        "make",
        "e2e",
        "WS_URL=ws://w/api",
        "REST_URL=http://r/api",
        "TOKEN_CMD=/venv/bin/python -m infra.dev.token --data-dir /data/localstack --user",
    ]
