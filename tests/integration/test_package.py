"""What `make package` produces for prod, and what the stages in .chalice/ promise.

Each stage is packaged once per session (SAM, plus Terraform for prod) and cfn-linted,
~15 s in all; the first run on a machine also downloads the manylinux wheels. Set
SKIP_CHALICE_PACKAGE=1 only where `chalice package` cannot run at all (no PyPI); the
static stage checks still run.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from chalice.config import Config

from chalicelib.config import Settings
from infra.deploy.package import PROJECT_DIR, StagePackage, package_stage
from infra.deploy.policy import allows, load_policy, resolve, ssm_parameter_arn, statements

CONFIG: dict[str, Any] = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
STAGES = sorted(CONFIG["stages"])
FUNCTIONS = ["api_handler", "websocket_connect", "websocket_message", "websocket_disconnect"]
API_GATEWAY_INTEGRATION_TIMEOUT = 29
REGION, ACCOUNT, API_ID = "eu-west-1", "123456789012", "a1b2c3d4e5"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "WebsocketAPI": API_ID,
}
# The only actions AWS authorizes solely on "*" (Lambda's VPC attachment needs them).
RESOURCE_STAR_ONLY = {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}
MAX_ZIPPED_BYTES = 30 * 1024 * 1024
MAX_UNZIPPED_BYTES = 150 * 1024 * 1024  # Lambda's own ceiling is 250 MB
RUNTIME_PACKAGES = ["aws_lambda_powertools", "pydantic", "pydantic_core", "pymongo", "bson"]
RUNTIME_PACKAGES += ["jwt", "cryptography", "redis", "chalicelib", "chalice"]

needs_package = pytest.mark.skipif(
    os.environ.get("SKIP_CHALICE_PACKAGE") == "1",
    reason="SKIP_CHALICE_PACKAGE=1: chalice package cannot run here",
)


def scoped(stage: str, function: str) -> Config:
    return Config(
        chalice_stage=stage,
        config_from_disk=CONFIG,
        default_params={"project_dir": str(PROJECT_DIR)},
    ).scope(stage, function)


def stage_policy(stage: str) -> dict[str, Any]:
    return load_policy(PROJECT_DIR, CONFIG["stages"][stage]["iam_policy_file"])


# --- the stages as configured (no packaging) -------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_deliberate_limits_and_valid_settings(stage: str, function: str):
    config = scoped(stage, function)
    assert config.lambda_memory_size in range(256, 10241)
    assert 1 <= config.lambda_timeout < API_GATEWAY_INTEGRATION_TIMEOUT
    assert config.autogen_policy is False
    # The app's own parser accepts the stage's environment (ConfigError otherwise).
    Settings.from_env(config.environment_variables)


@pytest.mark.parametrize("stage", STAGES)
def test_no_secret_is_written_in_the_config(stage: str):
    env = scoped(stage, "websocket_message").environment_variables
    assert not {"MONGODB_URI", "IM_JWT_SECRET"} & set(env)
    assert not any(k.startswith("AWS_") for k in env)  # reserved by Lambda


def test_prod_runs_by_the_production_rules():
    env = scoped("prod", "websocket_message").environment_variables
    assert Settings.from_env(env).production  # Redis over TLS with AUTH, no plain secrets
    assert "REDIS_URL" not in env and env["REDIS_URL_PARAM"]


@pytest.mark.parametrize("stage", STAGES)
def test_no_deployed_stage_allows_the_local_relaxations(stage: str):
    for function in FUNCTIONS:
        assert "IM_ALLOW_INSECURE_LOCAL" not in scoped(stage, function).environment_variables


def test_dev_leaves_what_make_dev_injects_to_make_dev():
    env = scoped("dev", "websocket_message").environment_variables
    assert not {"MONGODB_URI", "REDIS_URL", "IM_JWT_SECRET", "IM_MANAGEMENT_URL"} & set(env)


@pytest.mark.parametrize("stage", STAGES)
def test_policy_reads_exactly_the_parameters_the_stage_names(stage: str):
    env = scoped(stage, "api_handler").environment_variables
    policy = stage_policy(stage)
    params = ("IM_JWT_SECRET_PARAM", "MONGODB_URI_PARAM", "REDIS_URL_PARAM")
    named = [env[k] for k in params if env.get(k)]
    for name in named:
        arn = ssm_parameter_arn(name, REGION, ACCOUNT)
        assert allows(policy, "ssm:GetParameter", arn), name
        secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name.lstrip('/')}-Ab12Cd"
        assert allows(policy, "secretsmanager:GetSecretValue", secret), name
    granted = [
        r
        for s in statements(policy)
        if s["Action"] in ("ssm:GetParameter", ["ssm:GetParameter"])
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert len(granted) == len(named)  # nothing beyond what the stage reads


@pytest.mark.parametrize("stage", STAGES)
def test_policy_fits_the_stage_api_and_functions(stage: str):
    policy = stage_policy(stage)
    api_stage = scoped(stage, "websocket_message").api_gateway_stage
    connection = (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{api_stage}/POST/@connections/c1="
    )
    assert allows(policy, "execute-api:ManageConnections", connection)
    for function in ("", "-websocket_message"):
        group = (
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/serverless-im-{stage}{function}"
        )
        assert allows(policy, "logs:PutLogEvents", f"{group}:log-stream:2026/x")
    other = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/serverless-im-{stage}uction:*"
    assert not allows(policy, "logs:PutLogEvents", other)


@pytest.mark.parametrize("stage", STAGES)
def test_vpc_permissions_follow_the_vpc_config(stage: str):
    config = scoped(stage, "websocket_message")
    policy = stage_policy(stage)
    ec2 = [s for s in statements(policy) if "ec2:" in json.dumps(s["Action"])]
    if not config.subnet_ids:
        assert ec2 == []
        return
    for subnet in config.subnet_ids:
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{subnet}"
        assert allows(policy, "ec2:CreateNetworkInterface", arn)
    for group in config.security_group_ids:
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"
        assert allows(policy, "ec2:CreateNetworkInterface", arn)
    assert not allows(
        policy, "ec2:CreateNetworkInterface", f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-0a"
    )
    # Only Lambda's own ENI management (requests without lambda:SourceFunctionArn) may
    # use these: code running in the function, or its leaked credentials, may not.
    for statement in ec2:
        assert statement["Condition"]["Null"] == {"lambda:SourceFunctionArn": "true"}, statement
    # Interfaces are deleted or re-addressed only in the function's own subnets.
    manage = [s for s in ec2 if "ec2:DeleteNetworkInterface" in s["Action"]]
    assert manage and all(
        s["Condition"]["ArnLike"]["ec2:Subnet"]
        == [f"arn:aws:ec2:*:*:subnet/{subnet}" for subnet in config.subnet_ids]
        for s in manage
    )


# --- the packaged prod stage -------------------------------------------------------------


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], StagePackage]:
    """Each stage packaged at most once per session (prod with its Terraform output)."""
    out = tmp_path_factory.mktemp("package")
    done: dict[str, StagePackage] = {}

    def package(stage: str) -> StagePackage:
        if stage not in done:
            done[stage] = package_stage(PROJECT_DIR, stage, out, terraform=stage == "prod")
        return done[stage]

    return package


@pytest.fixture(scope="session")
def prod_package(packaged: Callable[[str], StagePackage]) -> StagePackage:
    return packaged("prod")


@pytest.fixture(scope="session")
def sam(prod_package: StagePackage) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(prod_package.sam_template.read_text())
    return template


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@needs_package
@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_finds_nothing(packaged: Callable[[str], StagePackage], stage: str):
    result = packaged(stage)
    assert not result.lint_failed, result.lint_output


@needs_package
@pytest.mark.slow
def test_websocket_api_routes_each_event_to_its_function(sam: dict[str, Any]):
    (api,) = of_type(sam, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    integrations = of_type(sam, "AWS::ApiGatewayV2::Integration")
    routes = {}
    for route in of_type(sam, "AWS::ApiGatewayV2::Route").values():
        integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        uri = integrations[integration_id]["Properties"]["IntegrationUri"]["Fn::Sub"]
        assert uri[0].endswith(":function:${WebsocketHandler}/invocations")
        routes[route["Properties"]["RouteKey"]] = uri[1]["WebsocketHandler"]["Ref"]
    assert routes == {
        "$connect": "WebsocketConnect",
        "$default": "WebsocketMessage",
        "$disconnect": "WebsocketDisconnect",
    }
    (stage,) = of_type(sam, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "api"


@needs_package
@pytest.mark.slow
def test_rest_api_has_exactly_the_post_routes_and_their_preflights(sam: dict[str, Any]):
    from app import REST_ROUTES

    (api,) = of_type(sam, "AWS::Serverless::Api").values()
    paths = api["Properties"]["DefinitionBody"]["paths"]
    # OPTIONS answers browsers' CORS preflights from the configured origins (chalicelib/cors.py)
    assert {path: sorted(methods) for path, methods in paths.items()} == {
        path: ["options", "post"] for path in REST_ROUTES
    }
    assert "/api/v1/messages/unread" in paths and "/api/v1/messages/mark-read" in paths
    assert api["Properties"]["StageName"] == "api"


@needs_package
@pytest.mark.slow
def test_the_rest_function_can_push_through_this_apis_connections(sam: dict[str, Any]):
    (handler,) = [
        r for name, r in of_type(sam, "AWS::Serverless::Function").items() if name == "APIHandler"
    ]
    url = handler["Properties"]["Environment"]["Variables"]["IM_MANAGEMENT_URL"]
    assert url == {
        "Fn::Sub": "https://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
    }


@needs_package
@pytest.mark.slow
def test_the_default_route_answers_with_the_lambdas_return_value(sam: dict[str, Any]):
    routes = of_type(sam, "AWS::ApiGatewayV2::Route")
    (default_id,) = [k for k, r in routes.items() if r["Properties"]["RouteKey"] == "$default"]
    assert routes[default_id]["Properties"]["RouteResponseSelectionExpression"] == "$default"
    (response,) = of_type(sam, "AWS::ApiGatewayV2::RouteResponse").values()
    assert response["Properties"] == {
        "ApiId": {"Ref": "WebsocketAPI"},
        "RouteId": {"Ref": default_id},
        "RouteResponseKey": "$default",
    }
    (deployment_id,) = of_type(sam, "AWS::ApiGatewayV2::Deployment")
    assert "WebsocketMessageRouteResponse" in sam["Resources"][deployment_id]["DependsOn"]


@needs_package
@pytest.mark.slow
def test_functions_carry_the_configured_limits_names_and_vpc(sam: dict[str, Any]):
    functions = of_type(sam, "AWS::Serverless::Function")
    assert len(functions) == len(FUNCTIONS)
    by_name = {f["Properties"]["FunctionName"]: f["Properties"] for f in functions.values()}
    for function in FUNCTIONS:
        config = scoped("prod", function)
        suffix = "" if function == "api_handler" else f"-{function}"
        properties = by_name[f"serverless-im-prod{suffix}"]
        assert properties["MemorySize"] == config.lambda_memory_size
        assert properties["Timeout"] == config.lambda_timeout
        assert properties["VpcConfig"]["SubnetIds"] == config.subnet_ids
        variables = dict(properties["Environment"]["Variables"])
        if function == "api_handler":  # added by make package, see the next tests
            variables.pop("IM_MANAGEMENT_URL")
        if function == "websocket_message":
            assert variables.pop("IM_ACK_ROUTE_RESPONSE") == "true"
        assert variables == config.environment_variables


@needs_package
@pytest.mark.slow
def test_roles_grant_least_privilege(sam: dict[str, Any]):
    roles = of_type(sam, "AWS::IAM::Role")
    assert len(roles) == len(FUNCTIONS)  # chalice makes one role per function
    for role in roles.values():
        (inline,) = role["Properties"]["Policies"]
        policy = resolve(inline["PolicyDocument"], PSEUDO)
        for statement in statements(policy):
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            assert statement["Effect"] == "Allow" and "NotAction" not in statement
            assert not any("*" in a for a in actions), statement
            if "*" in resources:
                assert set(actions) <= RESOURCE_STAR_ONLY, statement
            for arn in (r for r in resources if r != "*"):
                assert arn.startswith("arn:aws:") and f":{REGION}:{ACCOUNT}:" in arn, arn
        connection = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/api/POST/@connections/x="
        assert allows(policy, "execute-api:ManageConnections", connection)
        for elsewhere in (
            connection.replace(API_ID, "otherapi01"),
            connection.replace(ACCOUNT, "210987654321"),
            connection.replace("/POST/", "/DELETE/"),
        ):
            assert not allows(policy, "execute-api:ManageConnections", elsewhere)


@needs_package
@pytest.mark.slow
def test_terraform_output_is_pinned_too(prod_package: StagePackage):
    terraform = json.loads(prod_package.terraform_template.read_text())
    handler = terraform["resource"]["aws_lambda_function"]["api_handler"]
    url = handler["environment"]["variables"]["IM_MANAGEMENT_URL"]
    assert url.startswith("https://${aws_apigatewayv2_api.websocket_api.id}.execute-api.")
    message = terraform["resource"]["aws_lambda_function"]["websocket_message"]
    assert message["environment"]["variables"]["IM_ACK_ROUTE_RESPONSE"] == "true"
    (response,) = terraform["resource"]["aws_apigatewayv2_route_response"].values()
    assert response["route_response_key"] == "$default"
    default = terraform["resource"]["aws_apigatewayv2_route"]["websocket_message_route"]
    assert default["route_response_selection_expression"] == "$default"
    routes = terraform["resource"]["aws_apigatewayv2_route"].values()
    assert sorted(r["route_key"] for r in routes) == ["$connect", "$default", "$disconnect"]
    for policy in terraform["resource"]["aws_iam_role_policy"].values():
        assert ":*:*:" not in policy["policy"]
        assert (
            "${aws_apigatewayv2_api.websocket_api.id}/api/POST/@connections/*" in policy["policy"]
        )


@needs_package
@pytest.mark.slow
def test_bundle_holds_the_runtime_requirements_and_stays_small(prod_package: StagePackage):
    bundle = prod_package.bundle
    print(f"\nLambda bundle (prod): {bundle.describe()}")
    zip_path = prod_package.sam_template.with_name("deployment.zip")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        wheels = [archive.read(n).decode() for n in names if n.endswith(".dist-info/WHEEL")]
    top = {n.split("/")[0] for n in names}
    assert "app.py" in top
    assert set(RUNTIME_PACKAGES) <= top
    assert not {"boto3", "botocore"} & top  # the Lambda runtime provides them
    tags = [
        line.split(": ")[1] for w in wheels for line in w.splitlines() if line.startswith("Tag:")
    ]
    native = [t for t in tags if not t.endswith("-any")]
    assert native and all("manylinux" in t and "x86_64" in t for t in native), native
    assert bundle.zipped_bytes < MAX_ZIPPED_BYTES
    assert bundle.unzipped_bytes < MAX_UNZIPPED_BYTES


def test_build_output_stays_out_of_git():
    ignored = (PROJECT_DIR / ".gitignore").read_text().split()
    assert "build/" in ignored and ".chalice/deployments/" in ignored
