"""`make deploy`'s steps after `chalice deploy`, against botocore's Stubber: every call
is checked against the AWS service model (names, shapes), and the order is asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.deploy.deploy import Deployed, finish, management_url

API = "abc123defg"
MESSAGE_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:serverless-im-prod-websocket_message"
REST_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:serverless-im-prod"
DEPLOYED = Deployed(API, {"websocket_message": MESSAGE_ARN, "api_handler": REST_ARN})
URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/api"


def client(service: str) -> Any:
    session = boto3.session.Session(
        region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    make: Any = session.client  # the typed overloads know only the stubbed services
    return make(service)


def route(expression: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"RouteId": "r1", "RouteKey": "$default"}
    if expression:
        item["RouteResponseSelectionExpression"] = expression
    return item


def test_a_fresh_chalice_deployment_is_made_two_way_then_told_so() -> None:
    apigw, lam = client("apigatewayv2"), client("lambda")
    with Stubber(apigw) as gw, Stubber(lam) as fn:
        gw.add_response("get_routes", {"Items": [route(None)]}, {"ApiId": API})
        gw.add_response(
            "update_route",
            {},
            {"ApiId": API, "RouteId": "r1", "RouteResponseSelectionExpression": "$default"},
        )
        gw.add_response("get_route_responses", {"Items": []}, {"ApiId": API, "RouteId": "r1"})
        gw.add_response(
            "create_route_response",
            {"RouteResponseKey": "$default"},
            {"ApiId": API, "RouteId": "r1", "RouteResponseKey": "$default"},
        )
        gw.add_response(
            "create_deployment",
            {},
            {"ApiId": API, "StageName": "api", "Description": "make deploy: two-way $default"},
        )
        # The function learns about it only after the route answers.
        fn.add_response(
            "get_function_configuration",
            {"Environment": {"Variables": {"REDIS_URL": "rediss://r"}}},
            {"FunctionName": MESSAGE_ARN},
        )
        fn.add_response(
            "update_function_configuration",
            {},
            {
                "FunctionName": MESSAGE_ARN,
                "Environment": {
                    "Variables": {"REDIS_URL": "rediss://r", "IM_ACK_ROUTE_RESPONSE": "true"}
                },
            },
        )
        fn.add_response("get_function_configuration", {}, {"FunctionName": REST_ARN})
        fn.add_response(
            "update_function_configuration",
            {},
            {"FunctionName": REST_ARN, "Environment": {"Variables": {"IM_MANAGEMENT_URL": URL}}},
        )
        done = finish(DEPLOYED, apigw, lam, "eu-west-1", "api")
        gw.assert_no_pending_responses()
        fn.assert_no_pending_responses()
    assert len(done) == 3


def test_running_it_again_changes_nothing() -> None:
    apigw, lam = client("apigatewayv2"), client("lambda")
    with Stubber(apigw) as gw, Stubber(lam) as fn:
        gw.add_response("get_routes", {"Items": [route("$default")]}, {"ApiId": API})
        gw.add_response(
            "get_route_responses",
            {"Items": [{"RouteResponseKey": "$default", "RouteResponseId": "x"}]},
            {"ApiId": API, "RouteId": "r1"},
        )
        for arn, variables in (
            (MESSAGE_ARN, {"IM_ACK_ROUTE_RESPONSE": "true"}),
            (REST_ARN, {"IM_MANAGEMENT_URL": URL}),
        ):
            fn.add_response(
                "get_function_configuration",
                {"Environment": {"Variables": variables}},
                {"FunctionName": arn},
            )
        assert finish(DEPLOYED, apigw, lam, "eu-west-1", "api") == []
        gw.assert_no_pending_responses()
        fn.assert_no_pending_responses()


def test_the_deployment_record_is_read_as_chalice_writes_it(tmp_path: Path) -> None:
    record = {
        "schema_version": "2.0",
        "backend": "api",
        "resources": [
            {"name": "api_handler", "resource_type": "lambda_function", "lambda_arn": REST_ARN},
            {
                "name": "websocket_message",
                "resource_type": "lambda_function",
                "lambda_arn": MESSAGE_ARN,
            },
            {
                "name": "websocket_api",
                "resource_type": "websocket_api",
                "websocket_api_url": f"wss://{API}.execute-api.eu-west-1.amazonaws.com/api/",
                "websocket_api_id": API,
            },
        ],
    }
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    (tmp_path / ".chalice" / "deployed" / "prod.json").write_text(json.dumps(record))
    assert Deployed.read(tmp_path, "prod") == DEPLOYED
    (tmp_path / ".chalice" / "deployed" / "prod.json").write_text('{"resources": []}')
    with pytest.raises(RuntimeError, match="no WebSocket API"):
        Deployed.read(tmp_path, "prod")


def test_china_regions_have_their_own_domain() -> None:
    assert management_url(API, "cn-north-1", "api").endswith(".amazonaws.com.cn/api")
