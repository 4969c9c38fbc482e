"""`make deploy STAGE=<stage>`: `chalice deploy`, then what Chalice cannot do.

Chalice creates no route responses, so after it has deployed, this step (idempotent,
boto3, the same credentials) makes the stage what `make package` describes:

1. `$default` gets a route response and `RouteResponseSelectionExpression: $default`
   (two-way communication), and the stage is redeployed when that changed;
2. only then the `$default` function gets `IM_ACK_ROUTE_RESPONSE=true` -- in this
   order, because the other order would return acks that API Gateway drops;
3. the REST function gets `IM_MANAGEMENT_URL` (this WebSocket API's @connections
   endpoint, known only once the API exists), so REST calls can push;
4. every function role's policy is pinned to this region, account and WebSocket API
   (infra.deploy.policy, as `make package` pins its templates): `chalice deploy`
   uploads the stage's policy file before the API exists, so the file can only say
   "POST to @connections on stage `api` of any WebSocket API" -- pinned, the
   functions can post to this API's connections and no other's.

A later plain `chalice deploy` resets the functions' environment and role policies to
config.json's and the policy file's: the app then posts its acks again (safe, one post
more) and may post to any WebSocket API of the account; run `make deploy` instead, or
`python -m infra.deploy.deploy --stage <stage> --skip-chalice` right after it.

    python -m infra.deploy.deploy --stage prod [--skip-chalice]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra.deploy.package import (
    DEFAULT_ROUTE_RESPONSE,
    MANAGEMENT_URL_VARIABLE,
    PROJECT_DIR,
    ROUTE_RESPONSE_VARIABLE,
)
from infra.deploy.policy import Document, Pins, load_policy, pin_policy

MESSAGE_FUNCTION = "websocket_message"
REST_FUNCTION = "api_handler"


@dataclass(frozen=True)
class Deployed:
    """What `.chalice/deployed/<stage>.json` says Chalice deployed."""

    websocket_api_id: str
    functions: dict[str, str]  # chalice function name -> Lambda ARN
    # IAM role name -> role ARN; chalice names each role's inline policy after the role
    roles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, project_dir: Path, stage: str) -> Deployed:
        path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
        resources = json.loads(path.read_text())["resources"]
        api = [r for r in resources if r.get("resource_type") == "websocket_api"]
        if not api:
            raise RuntimeError(f"{path}: no WebSocket API was deployed")
        functions = {
            r["name"]: r["lambda_arn"]
            for r in resources
            if r.get("resource_type") == "lambda_function"
        }
        roles = {
            r["role_name"]: r["role_arn"] for r in resources if r.get("resource_type") == "iam_role"
        }
        return cls(api[0]["websocket_api_id"], functions, roles)


def management_url(api_id: str, region: str, api_stage: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{api_id}.execute-api.{region}.{suffix}/{api_stage}"


def enable_route_response(apigw: Any, api_id: str, api_stage: str) -> bool:
    """Two-way `$default`; True when something changed (and the stage was redeployed)."""
    routes = apigw.get_routes(ApiId=api_id)["Items"]
    (route,) = [r for r in routes if r["RouteKey"] == "$default"]
    changed = False
    if route.get("RouteResponseSelectionExpression") != DEFAULT_ROUTE_RESPONSE:
        apigw.update_route(
            ApiId=api_id,
            RouteId=route["RouteId"],
            RouteResponseSelectionExpression=DEFAULT_ROUTE_RESPONSE,
        )
        changed = True
    responses = apigw.get_route_responses(ApiId=api_id, RouteId=route["RouteId"])["Items"]
    if not any(r["RouteResponseKey"] == DEFAULT_ROUTE_RESPONSE for r in responses):
        apigw.create_route_response(
            ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey=DEFAULT_ROUTE_RESPONSE
        )
        changed = True
    if changed:
        apigw.create_deployment(
            ApiId=api_id, StageName=api_stage, Description="make deploy: two-way $default"
        )
    return changed


def ensure_environment(lambda_client: Any, function_arn: str, name: str, value: str) -> bool:
    """Set one environment variable, keeping the others; True when it changed."""
    config = lambda_client.get_function_configuration(FunctionName=function_arn)
    variables = dict(config.get("Environment", {}).get("Variables", {}))
    if variables.get(name) == value:
        return False
    variables[name] = value
    lambda_client.update_function_configuration(
        FunctionName=function_arn, Environment={"Variables": variables}
    )
    return True


def finish(
    deployed: Deployed, apigw: Any, lambda_client: Any, region: str, api_stage: str
) -> list[str]:
    done: list[str] = []
    if enable_route_response(apigw, deployed.websocket_api_id, api_stage):
        done.append("$default route response created and deployed")
    if ensure_environment(
        lambda_client, deployed.functions[MESSAGE_FUNCTION], ROUTE_RESPONSE_VARIABLE, "true"
    ):
        done.append(f"{MESSAGE_FUNCTION}: {ROUTE_RESPONSE_VARIABLE}=true")
    url = management_url(deployed.websocket_api_id, region, api_stage)
    if ensure_environment(
        lambda_client, deployed.functions[REST_FUNCTION], MANAGEMENT_URL_VARIABLE, url
    ):
        done.append(f"{REST_FUNCTION}: {MANAGEMENT_URL_VARIABLE}={url}")
    return done


def _document(value: Any) -> Any:
    """A policy document as IAM returns it: boto3 usually decodes it already; the raw
    API gives URL-encoded JSON."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


def pin_roles(iam: Any, deployed: Deployed, policy: Document, region: str) -> list[str]:
    """Put the stage policy, pinned to `region`, each role's account and the deployed
    WebSocket API, on every role whose policy is not that already; the roles changed."""
    changed: list[str] = []
    for role_name, role_arn in sorted(deployed.roles.items()):
        # arn:<partition>:iam::<account>:role/<name>
        _, partition, _, _, account, _ = role_arn.split(":", 5)
        pinned = pin_policy(policy, Pins(partition, region, account, deployed.websocket_api_id))
        current = iam.get_role_policy(RoleName=role_name, PolicyName=role_name)
        if _document(current["PolicyDocument"]) == pinned:
            continue
        iam.put_role_policy(
            RoleName=role_name, PolicyName=role_name, PolicyDocument=json.dumps(pinned)
        )
        changed.append(f"{role_name}: policy pinned to {deployed.websocket_api_id}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stage", required=True)
    parser.add_argument("--skip-chalice", action="store_true", help="only the steps after it")
    args = parser.parse_args(argv)
    if not args.skip_chalice:
        chalice = str(Path(sys.executable).with_name("chalice"))
        subprocess.run([chalice, "deploy", "--stage", args.stage], cwd=PROJECT_DIR, check=True)
    import boto3

    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    stage = config["stages"][args.stage]
    api_stage = stage.get("api_gateway_stage", config.get("api_gateway_stage", "api"))
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    deployed = Deployed.read(PROJECT_DIR, args.stage)
    done = finish(
        deployed, session.client("apigatewayv2"), session.client("lambda"), region, api_stage
    )
    policy = load_policy(PROJECT_DIR, stage.get("iam_policy_file", f"policy-{args.stage}.json"))
    done += pin_roles(session.client("iam"), deployed, policy, region)
    print("\n".join(done) if done else "nothing to change: the stage is two-way and pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
