"""The app on LocalStack: where a `chalice deploy --stage localstack` answers.

The deployment itself is the tested one -- the same `chalice deploy`, the `localstack`
stage of .chalice/config.json (its secrets read from SSM, as in prod) -- and the
end-to-end suite runs against it in its remote mode. Only what is LocalStack-specific
lives here: credentials and endpoint for the AWS clients, and the URLs LocalStack serves
the two APIs on (chalice prints AWS's, which LocalStack does not answer).

This needs Docker and a LocalStack auth token, so it is not run by `make test`; the pure
functions below are (tests/unit/test_localstack.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STAGE = "localstack"
DEFAULT_ENDPOINT = "http://localhost.localstack.cloud:4566"
DEFAULT_REGION = "us-east-1"
LOCALSTACK_DOMAIN = "localhost.localstack.cloud"
# What the Lambda containers reach on the compose network (infra/localstack/compose.yaml).
MONGODB_URI = "mongodb://mongo:27017/"
ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True)
class Endpoints:
    ws_url: str
    rest_url: str
    token_cmd: str

    def save(self, data_dir: Path) -> Path:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / ENDPOINTS_FILE
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, data_dir: Path) -> Endpoints:
        data = json.loads((data_dir / ENDPOINTS_FILE).read_text())
        return cls(ws_url=data["ws_url"], rest_url=data["rest_url"], token_cmd=data["token_cmd"])


def aws_environment(endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Environment for boto3 and chalice: every client goes to LocalStack (botocore
    honours AWS_ENDPOINT_URL) with its dummy credentials, never to a real account."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # LocalStack accepts any credentials
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


def deployed_api_ids(deployed: dict[str, Any]) -> tuple[str, str]:
    """(REST API id, WebSocket API id) from `.chalice/deployed/<stage>.json`."""
    rest = [r["rest_api_id"] for r in deployed["resources"] if "rest_api_id" in r]
    websocket = [r["websocket_api_id"] for r in deployed["resources"] if "websocket_api_id" in r]
    if len(rest) != 1 or len(websocket) != 1:
        raise ValueError("the deployment has no single REST API and WebSocket API")
    return rest[0], websocket[0]


def rest_url(endpoint: str, api_id: str, api_stage: str) -> str:
    """LocalStack's URL for a REST API stage: the execute-api host form when the endpoint
    uses LocalStack's domain, else the path form that works with any host."""
    parts = urlsplit(endpoint)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    if host == LOCALSTACK_DOMAIN:
        return f"{parts.scheme}://{api_id}.execute-api.{host}{port}/{api_stage}"
    return f"{parts.scheme}://{host}{port}/restapis/{api_id}/{api_stage}/_user_request_"


def websocket_url(api_endpoint: str, api_stage: str) -> str:
    """The URL clients connect to: the API's endpoint as LocalStack reports it + stage."""
    return f"{api_endpoint.rstrip('/')}/{api_stage}"


def token_command(python: str, data_dir: Path) -> str:
    """Prints a JWT for the user id appended to it, signed with the secret this
    deployment's functions read from SSM (kept in `data_dir`, like `make token`)."""
    return f"{python} -m infra.dev.token --data-dir {data_dir} --user"


def e2e_command(endpoints: Endpoints) -> list[str]:
    return [
        "make",
        "e2e",
        f"WS_URL={endpoints.ws_url}",
        f"REST_URL={endpoints.rest_url}",
        f"TOKEN_CMD={endpoints.token_cmd}",
    ]
