"""Pinning a stage policy to one deployment, and asking a policy what it allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.deploy.package import finish_sam, finish_terraform, placeholders
from infra.deploy.policy import (
    CLOUDFORMATION,
    TERRAFORM,
    allows,
    cloudformation_sub,
    pin_arn,
    pin_policy,
    resolve,
    ssm_parameter_arn,
)

CONNECTIONS = "arn:aws:execute-api:*:*:*/api/POST/@connections/*"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "WebsocketAPI": "abc123",
}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_wildcard_fields_are_pinned_to_the_template():
    assert pin_arn(CONNECTIONS, CLOUDFORMATION) == (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
        "${WebsocketAPI}/api/POST/@connections/*"
    )
    assert pin_arn(CONNECTIONS, TERRAFORM).endswith(
        ":${aws_apigatewayv2_api.websocket_api.id}/api/POST/@connections/*"
    )


def test_explicit_fields_and_non_arns_are_left_alone():
    arn = "arn:aws:ssm:us-east-1:111122223333:parameter/x"
    assert (
        pin_arn(arn, CLOUDFORMATION)
        == "arn:${AWS::Partition}:ssm:us-east-1:111122223333:parameter/x"
    )
    assert pin_arn("*", CLOUDFORMATION) == "*"
    assert pin_arn("ssm.*.amazonaws.com", CLOUDFORMATION) == "ssm.*.amazonaws.com"


def test_pinning_covers_resources_and_conditions_and_copies():
    # Given a statement with an ARN in its resources and in a condition
    arn = "arn:aws:ssm:*:*:parameter/a"
    original = policy(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": ["arn:aws:kms:*:*:key/*"],
            "Condition": {"StringLike": {"kms:EncryptionContext:PARAMETER_ARN": [arn]}},
        }
    )
    # When it is pinned for CloudFormation
    pinned = pin_policy(original, CLOUDFORMATION, cloudformation_sub)
    # Then both are Fn::Sub strings, and the original is untouched
    statement = pinned["Statement"][0]
    assert statement["Resource"][0] == {
        "Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
    }
    resolved = resolve(statement["Condition"], PSEUDO)
    assert resolved["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/a"
    ]
    assert original["Statement"][0]["Resource"] == ["arn:aws:kms:*:*:key/*"]


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        (
            "execute-api:ManageConnections",
            "arn:aws:execute-api:r:1:api1/api/POST/@connections/c=",
            True,
        ),
        (
            "EXECUTE-API:manageconnections",
            "arn:aws:execute-api:r:1:api1/api/POST/@connections/c",
            True,
        ),
        (
            "execute-api:ManageConnections",
            "arn:aws:execute-api:r:1:api1/api/DELETE/@connections/c",
            False,
        ),
        (
            "execute-api:ManageConnections",
            "arn:aws:execute-api:r:1:api1/dev/POST/@connections/c",
            False,
        ),
        ("execute-api:Invoke", "arn:aws:execute-api:r:1:api1/api/POST/@connections/c", False),
        ("ssm:GetParameter", "arn:aws:ssm:r:1:parameter/im/jwt-secret", True),
        ("ssm:GetParameter", "arn:aws:ssm:r:1:parameter/im/jwt-secretX", False),
        ("ssm:GetParameters", "arn:aws:ssm:r:1:parameter/im/jwt-secret", False),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:im/jwt-Ab12Cd", True),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:im/jwt-Ab12C", False),
    ],
)
def test_allows_follows_iam_wildcards(action: str, resource: str, allowed: bool):
    document = policy(
        {"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": CONNECTIONS},
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": "arn:aws:ssm:*:*:parameter/im/jwt-secret",
        },
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:*:*:secret:im/jwt-??????",
        },
        {"Effect": "Deny", "Action": "*", "Resource": "*"},  # ignored: only Allow is evaluated
    )
    assert allows(document, action, resource) is allowed


def test_ssm_parameter_arn_does_not_double_the_slash():
    assert ssm_parameter_arn("/im/prod/x", "r", "1") == "arn:aws:ssm:r:1:parameter/im/prod/x"
    assert ssm_parameter_arn("plain", "r", "1") == "arn:aws:ssm:r:1:parameter/plain"


def _sam(*functions: str) -> dict[str, Any]:
    resources: dict[str, Any] = {
        name: {"Type": "AWS::Serverless::Function", "Properties": {}} for name in functions
    }
    resources["SomeRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Policies": [
                {
                    "PolicyName": "p",
                    "PolicyDocument": policy(
                        {
                            "Effect": "Allow",
                            "Action": "execute-api:ManageConnections",
                            "Resource": CONNECTIONS,
                        }
                    ),
                }
            ]
        },
    }
    return {"Resources": resources}


def test_finish_sam_names_functions_like_chalice_deploy_and_pins_roles():
    template = _sam("APIHandler", "WebsocketMessage")
    finish_sam(template, "im", "prod", ["api_handler", "websocket_message"])
    resources = template["Resources"]
    assert resources["APIHandler"]["Properties"]["FunctionName"] == "im-prod"
    assert (
        resources["WebsocketMessage"]["Properties"]["FunctionName"] == "im-prod-websocket_message"
    )
    document = resources["SomeRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    resource = resolve(document, PSEUDO)["Statement"][0]["Resource"]
    assert resource == "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/@connections/*"


def test_finish_sam_refuses_a_function_without_deliberate_settings():
    with pytest.raises(RuntimeError, match="WebsocketConnect"):
        finish_sam(_sam("WebsocketConnect"), "im", "prod", ["api_handler"])


def test_finish_terraform_pins_the_policy_string():
    doc = policy(
        {
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": "arn:aws:logs:*:*:log-group:x:*",
        }
    )
    template = {"resource": {"aws_iam_role_policy": {"r": {"policy": json.dumps(doc)}}}}
    finish_terraform(template)
    pinned = json.loads(template["resource"]["aws_iam_role_policy"]["r"]["policy"])
    assert pinned["Statement"][0]["Resource"] == (
        "arn:${data.aws_partition.chalice.partition}:logs:${data.aws_region.chalice.name}:"
        "${data.aws_caller_identity.chalice.account_id}:log-group:x:*"
    )


def test_placeholders_are_reported_with_their_place():
    stage = {
        "subnet_ids": ["subnet-00000000000000001", "subnet-0a1b2c3d4e5f60718"],
        "environment_variables": {"REDIS_URL": "rediss://replace-me.x:6379", "A": "b"},
    }
    assert placeholders(stage, "stages.prod") == [
        "stages.prod.subnet_ids[0] = subnet-00000000000000001",
        "stages.prod.environment_variables.REDIS_URL = rediss://replace-me.x:6379",
    ]
