"""Our @connections client signs the very request boto3 would send: same method, URL,
body and signed headers (hence the same SigV4 signature for the same instant)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse, HTTPHeaders
from botocore.credentials import Credentials

from chalicelib.management import SignedConnectionsApi

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
CREDS = Credentials("AKIDEXAMPLE", "secret-example", token="session-token-example")


class StaticCredentials:
    def get_frozen_credentials(self) -> Any:
        return CREDS.get_frozen_credentials()


def boto3_request(connection_id: str, data: bytes) -> AWSRequest:
    """The request boto3 prepares, caught just before it would be sent."""
    session = boto3.session.Session(
        aws_access_key_id=CREDS.access_key,
        aws_secret_access_key=CREDS.secret_key,
        aws_session_token=CREDS.token,
        region_name="eu-west-1",
    )
    client = session.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    captured: list[AWSRequest] = []

    class EmptyBody:
        def stream(self) -> Any:
            yield b""

    def capture(request: AWSRequest, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(str(request.url), 200, HTTPHeaders(), EmptyBody())  # no network

    # A before-send handler that returns a response replaces the send (botocore's
    # documented stubbing hook); the stubs type handlers as returning None.
    client.meta.events.register(
        "before-send.apigatewaymanagementapi.PostToConnection",
        capture,  # type: ignore[arg-type]
    )
    client.post_to_connection(Data=data, ConnectionId=connection_id)
    return captured[0]


def _as_request(prepared: Any) -> AWSRequest:
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    return AWSRequest(method=prepared.method, url=prepared.url, headers=headers, data=prepared.body)


def _signed_headers(request: AWSRequest) -> str:
    return str(request.headers["Authorization"]).split("SignedHeaders=")[1].split(",")[0]


@pytest.mark.parametrize("connection_id", ["L0SM9cOFvHcCIhw=", "abc_DEF-123=", "Zz9="])
def test_request_is_the_one_boto3_signs(connection_id: str) -> None:
    data = '{"type":"message","content":"ünïcode ✓"}'.encode()
    ours = SignedConnectionsApi(ENDPOINT, StaticCredentials(), "eu-west-1").signed_request(
        connection_id, data
    )
    theirs = _as_request(boto3_request(connection_id, data))

    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
    assert ours.url is not None
    assert "%3D" in ours.url and "/api/@connections/" in ours.url
    assert (
        _signed_headers(ours) == _signed_headers(theirs) == "host;x-amz-date;x-amz-security-token"
    )
    assert ours.headers["X-Amz-Security-Token"] == theirs.headers["X-Amz-Security-Token"]
    # Same request, same signed headers, same botocore SigV4Auth: when both were made in
    # the same second the signatures are identical too.
    if ours.headers["X-Amz-Date"] == theirs.headers["X-Amz-Date"]:
        assert ours.headers["Authorization"] == theirs.headers["Authorization"]


def test_authorization_header_names_execute_api_and_region() -> None:
    req = SignedConnectionsApi(ENDPOINT, StaticCredentials(), "eu-west-1").signed_request(
        "L0SM9cOFvHcCIhw=", b"x"
    )
    auth = req.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
