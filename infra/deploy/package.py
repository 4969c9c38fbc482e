"""`make package`: each stage as deployable artifacts, checked.

For every stage, `chalice package` writes a SAM/CloudFormation template and a Terraform
configuration next to the Lambda bundle (it downloads Lambda-platform manylinux wheels
from PyPI; no AWS account or credentials are involved). Then the templates are finished:

- the stage's policy file is pinned to the template's own region, account and WebSocket
  API (infra.deploy.policy);
- SAM functions get the names `chalice deploy` and the Terraform output use,
  `<app>-<stage>` and `<app>-<stage>-<function>`, so the policy's log-group ARNs hold on
  every deployment path (SAM would otherwise name them after the stack);
- the REST function gets `IM_MANAGEMENT_URL`, this WebSocket API's @connections
  endpoint, so REST calls can push too (read receipts after a REST mark-read, REST
  sends, group events); the WebSocket functions learn it from their events;
- the `$default` route gets a route response (two-way communication), and its function
  `IM_ACK_ROUTE_RESPONSE=true`: acks, pongs and errors are the Lambda's return value,
  one `@connections` post fewer per frame (Chalice creates no route responses).

cfn-lint checks the SAM template; its errors and warnings fail the run. Everything goes
to build/package/<stage>/ (outside git), with summary.json: bundle sizes and lint output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chalice.utils import to_cfn_resource_name

from infra.deploy.policy import CLOUDFORMATION, TERRAFORM, cloudformation_sub, pin_policy

PROJECT_DIR = Path(__file__).resolve().parents[2]
SAM_TEMPLATE = "sam.json"
TERRAFORM_TEMPLATE = "chalice.tf.json"
BUNDLE = "deployment.zip"
_CFN_LINT_FAILURE = 2 | 4  # exit-code bits: 2 errors, 4 warnings (8 is informational)
_PLACEHOLDER = re.compile(r"replace-me|example\.com|^(subnet|sg)-0{8,}[0-9]?$")


class PackageError(RuntimeError):
    """`chalice package` or a check of its output failed."""


@dataclass(frozen=True)
class BundleSize:
    zipped_bytes: int
    unzipped_bytes: int
    files: int

    def describe(self) -> str:
        mib = 1024 * 1024
        return (
            f"{self.zipped_bytes / mib:.1f} MiB zipped, "
            f"{self.unzipped_bytes / mib:.1f} MiB unzipped ({self.files} files)"
        )


@dataclass
class StagePackage:
    stage: str
    directory: Path
    bundle: BundleSize
    lint_returncode: int
    lint_output: str
    warnings: list[str] = field(default_factory=list)

    @property
    def sam_template(self) -> Path:
        return self.directory / "sam" / SAM_TEMPLATE

    @property
    def terraform_template(self) -> Path:
        return self.directory / "terraform" / TERRAFORM_TEMPLATE

    @property
    def lint_failed(self) -> bool:
        return bool(self.lint_returncode & _CFN_LINT_FAILURE)


def _tool(name: str) -> str:
    """A console script of this virtualenv (chalice, cfn-lint), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise PackageError(f"{name} is not installed (pip install -r requirements-dev.txt)")
    return found


def chalice_package(project_dir: Path, stage: str, out: Path, pkg_format: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    command = [_tool("chalice"), "--project-dir", str(project_dir), "package"]
    command += ["--stage", stage, "--pkg-format", pkg_format, str(out)]
    # The region only has to exist: templates refer to the deploying region themselves.
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise PackageError(f"`{' '.join(command)}` failed:\n{done.stdout}{done.stderr}")


def bundle_size(zip_path: Path) -> BundleSize:
    with zipfile.ZipFile(zip_path) as bundle:
        entries = bundle.infolist()
    return BundleSize(zip_path.stat().st_size, sum(e.file_size for e in entries), len(entries))


MANAGEMENT_URL_VARIABLE = "IM_MANAGEMENT_URL"
ROUTE_RESPONSE_VARIABLE = "IM_ACK_ROUTE_RESPONSE"
DEFAULT_ROUTE_RESPONSE = "$default"


def add_route_response_sam(template: dict[str, Any]) -> None:
    """Two-way `$default`: a RouteResponse, the route's selection expression, the
    deployment after both, and the function told to return its answers."""
    resources = template["Resources"]
    if "WebsocketMessageRoute" not in resources:  # no $default route to answer on
        return
    resources["WebsocketMessageRoute"]["Properties"]["RouteResponseSelectionExpression"] = (
        DEFAULT_ROUTE_RESPONSE
    )
    resources["WebsocketMessageRouteResponse"] = {
        "Type": "AWS::ApiGatewayV2::RouteResponse",
        "Properties": {
            "ApiId": {"Ref": "WebsocketAPI"},
            "RouteId": {"Ref": "WebsocketMessageRoute"},
            "RouteResponseKey": DEFAULT_ROUTE_RESPONSE,
        },
    }
    deployment = resources["WebsocketAPIDeployment"]
    deployment["DependsOn"] = [*deployment.get("DependsOn", []), "WebsocketMessageRouteResponse"]
    function = resources["WebsocketMessage"]["Properties"]
    variables = function.setdefault("Environment", {}).setdefault("Variables", {})
    variables.setdefault(ROUTE_RESPONSE_VARIABLE, "true")


def add_route_response_terraform(template: dict[str, Any]) -> None:
    resources = template["resource"]
    if "websocket_message_route" not in resources.get("aws_apigatewayv2_route", {}):
        return
    route = resources["aws_apigatewayv2_route"]["websocket_message_route"]
    route["route_response_selection_expression"] = DEFAULT_ROUTE_RESPONSE
    resources["aws_apigatewayv2_route_response"] = {
        "websocket_message_route_response": {
            "api_id": "${aws_apigatewayv2_api.websocket_api.id}",
            "route_id": "${aws_apigatewayv2_route.websocket_message_route.id}",
            "route_response_key": DEFAULT_ROUTE_RESPONSE,
        }
    }
    for deployment in resources["aws_apigatewayv2_deployment"].values():
        deployment["depends_on"] = [
            *deployment.get("depends_on", []),
            "aws_apigatewayv2_route_response.websocket_message_route_response",
        ]
    function = resources["aws_lambda_function"]["websocket_message"]
    variables = function.setdefault("environment", {}).setdefault("variables", {})
    variables.setdefault(ROUTE_RESPONSE_VARIABLE, "true")


def finish_sam(
    template: dict[str, Any],
    app_name: str,
    stage: str,
    functions: Iterable[str],
    api_stage: str = "api",
) -> None:
    """Name the functions as chalice does, give the REST function the management URL,
    and pin the role policies, in place."""
    names = {to_cfn_resource_name(f): f"{app_name}-{stage}-{f}" for f in functions}
    names["APIHandler"] = f"{app_name}-{stage}"  # chalice's REST handler has no suffix
    for logical_id, resource in template["Resources"].items():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::Serverless::Function":
            if logical_id not in names:
                raise PackageError(
                    f"{logical_id}: no entry in .chalice/config.json lambda_functions "
                    "(every function gets its memory and timeout there)"
                )
            properties["FunctionName"] = names[logical_id]
            if logical_id == "APIHandler":
                url = {
                    "Fn::Sub": "https://${WebsocketAPI}.execute-api.${AWS::Region}."
                    f"${{AWS::URLSuffix}}/{api_stage}"
                }
                variables = properties.setdefault("Environment", {}).setdefault("Variables", {})
                variables.setdefault(MANAGEMENT_URL_VARIABLE, url)
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                policy["PolicyDocument"] = pin_policy(
                    policy["PolicyDocument"], CLOUDFORMATION, cloudformation_sub
                )
    add_route_response_sam(template)


def finish_terraform(template: dict[str, Any], api_stage: str = "api") -> None:
    handler = template["resource"].get("aws_lambda_function", {}).get("api_handler")
    if handler is not None:
        url = (
            "https://${aws_apigatewayv2_api.websocket_api.id}.execute-api."
            "${data.aws_region.chalice.name}.${data.aws_partition.chalice.dns_suffix}"
            f"/{api_stage}"
        )
        environment = handler.setdefault("environment", {})
        environment.setdefault("variables", {}).setdefault(MANAGEMENT_URL_VARIABLE, url)
    for policy in template["resource"].get("aws_iam_role_policy", {}).values():
        policy["policy"] = json.dumps(pin_policy(json.loads(policy["policy"]), TERRAFORM))
    add_route_response_terraform(template)


def placeholders(value: Any, where: str = "") -> list[str]:
    """Config values still holding the example placeholders (replace before deploying)."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in placeholders(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in placeholders(v, f"{where}[{i}]")]
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        return [f"{where.lstrip('.')} = {value}"]
    return []


def _rewrite(path: Path, finish: Callable[..., None], *args: Any) -> None:
    template = json.loads(path.read_text())
    finish(template, *args)
    path.write_text(json.dumps(template, indent=2) + "\n")


def package_stage(
    project_dir: Path, stage: str, out_dir: Path, terraform: bool = True
) -> StagePackage:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise PackageError(f"no stage {stage!r} in .chalice/config.json")
    directory = out_dir / stage
    sam_dir = directory / "sam"
    chalice_package(project_dir, stage, sam_dir, "cloudformation")
    functions = config.get("lambda_functions", {})
    api_stage = config["stages"][stage].get(
        "api_gateway_stage", config.get("api_gateway_stage", "api")
    )
    _rewrite(sam_dir / SAM_TEMPLATE, finish_sam, config["app_name"], stage, functions, api_stage)
    if terraform:
        tf_dir = directory / "terraform"
        chalice_package(project_dir, stage, tf_dir, "terraform")
        _rewrite(tf_dir / TERRAFORM_TEMPLATE, finish_terraform, api_stage)
    lint = subprocess.run(
        [_tool("cfn-lint"), "--", str(sam_dir / SAM_TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = StagePackage(
        stage=stage,
        directory=directory,
        bundle=bundle_size(sam_dir / BUNDLE),
        lint_returncode=lint.returncode,
        lint_output=(lint.stdout + lint.stderr).strip(),
        warnings=placeholders(config["stages"][stage], f"stages.{stage}"),
    )
    summary = {**asdict(result), "directory": str(directory)}
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.package", description=__doc__)
    parser.add_argument("--stage", action="append", help="repeatable; default: every stage")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "package")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--no-terraform", action="store_true", help="SAM template only")
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    failed = False
    for stage in args.stage or list(config.get("stages", {})):
        try:
            result = package_stage(project_dir, stage, args.out.resolve(), not args.no_terraform)
        except PackageError as exc:
            print(f"{stage}: {exc}", file=sys.stderr)
            failed = True
            continue
        print(f"{stage}: Lambda bundle {result.bundle.describe()}")
        print(f"{stage}: cfn-lint {'FAILED' if result.lint_failed else 'passed'}")
        if result.lint_output:
            print(result.lint_output)
        for warning in result.warnings:
            print(f"{stage}: placeholder to replace before deploying: {warning}")
        print(f"{stage}: {result.directory}")
        failed = failed or result.lint_failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
