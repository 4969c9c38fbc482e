"""`python -m infra.localstack deploy|e2e`: what `make deploy-localstack` and
`make e2e-localstack` run once `docker compose -f infra/localstack/compose.yaml up` is.

deploy: store the stage's secrets in LocalStack's SSM (as an operator does in AWS), run
`chalice deploy --stage localstack` against LocalStack, and write the URLs LocalStack
serves the APIs on to <data-dir>/endpoints.json.
e2e:    run the end-to-end suite in its remote mode against those URLs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.dev.tokens import local_secret
from infra.localstack import (
    DEFAULT_ENDPOINT,
    MONGODB_URI,
    STAGE,
    Endpoints,
    aws_environment,
    deployed_api_ids,
    e2e_command,
    rest_url,
    token_command,
    websocket_url,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _forget_stale_deployment(deployed_file: Path, session: Any, endpoint: str) -> None:
    """LocalStack keeps no state across restarts; chalice would try to update resources
    that are gone, so a record naming an unknown REST API is dropped first."""
    if not deployed_file.exists():
        return
    rest_id, _ = deployed_api_ids(json.loads(deployed_file.read_text()))
    try:
        session.client("apigateway", endpoint_url=endpoint).get_rest_api(restApiId=rest_id)
    except ClientError:
        deployed_file.unlink()


def deploy(endpoint: str, data_dir: Path) -> Endpoints:
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    stage = config["stages"][STAGE]
    variables = stage["environment_variables"]
    api_stage = stage.get("api_gateway_stage") or config["api_gateway_stage"]
    env = {**os.environ, **aws_environment(endpoint)}
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    ssm = session.client("ssm", endpoint_url=endpoint)
    secrets = {
        variables["IM_JWT_SECRET_PARAM"]: local_secret(data_dir),
        variables["MONGODB_URI_PARAM"]: MONGODB_URI,
    }
    for name, value in secrets.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

    deployed_file = PROJECT_DIR / ".chalice" / "deployed" / f"{STAGE}.json"
    _forget_stale_deployment(deployed_file, session, endpoint)
    chalice = str(Path(sys.executable).with_name("chalice"))
    command = [chalice, "--project-dir", str(PROJECT_DIR), "deploy", "--stage", STAGE]
    subprocess.run(command, env=env, check=True)

    rest_id, websocket_id = deployed_api_ids(json.loads(deployed_file.read_text()))
    apis = session.client("apigatewayv2", endpoint_url=endpoint)
    api_endpoint = apis.get_api(ApiId=websocket_id)["ApiEndpoint"]
    return Endpoints(
        ws_url=websocket_url(api_endpoint, api_stage),
        rest_url=rest_url(endpoint, rest_id, api_stage),
        token_cmd=token_command(sys.executable, data_dir),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localstack", description=__doc__)
    parser.add_argument("command", choices=["deploy", "e2e"])
    parser.add_argument(
        "--endpoint", default=os.environ.get("LOCALSTACK_ENDPOINT", DEFAULT_ENDPOINT)
    )
    parser.add_argument("--data-dir", type=Path, default=PROJECT_DIR / ".data" / "localstack")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    if args.command == "deploy":
        endpoints = deploy(args.endpoint, data_dir)
        path = endpoints.save(data_dir)
        print(f"WebSocket: {endpoints.ws_url}\nREST:      {endpoints.rest_url}\n({path})")
        return 0
    return subprocess.run(e2e_command(Endpoints.load(data_dir)), cwd=PROJECT_DIR).returncode


if __name__ == "__main__":
    sys.exit(main())
