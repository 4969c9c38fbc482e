"""`make deploy` pins each function role's policy to the deployed WebSocket API (a plain
`chalice deploy` can only grant "any API of the account"), against botocore's Stubber:
the calls are checked against the IAM service model, and what was sent is read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.deploy.deploy import Deployed, pin_roles
from infra.deploy.package import PROJECT_DIR
from infra.deploy.policy import Document, Pins, allows, load_policy, pin_policy

API, REGION, ACCOUNT = "abc123defg", "eu-west-1", "123456789012"
ROLES = {
    f"serverless-im-prod-{f}": f"arn:aws:iam::{ACCOUNT}:role/serverless-im-prod-{f}"
    for f in ("api_handler", "websocket_message")
}
DEPLOYED = Deployed(API, {}, ROLES)
CONNECTION = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API}/api/POST/@connections/c1="


@pytest.fixture
def policy() -> Document:
    return load_policy(PROJECT_DIR, "policy-prod.json")


def iam_client() -> Any:
    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    make: Any = session.client  # the typed overloads know only the stubbed services
    return make("iam")


def sent_documents(iam: Any) -> list[Document]:
    """What PutRolePolicy is called with, as the documents IAM will hold."""
    sent: list[Document] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(json.loads(params["PolicyDocument"]))

    iam.meta.events.register("provide-client-params.iam.PutRolePolicy", capture)
    return sent


def test_chalices_policy_is_replaced_by_one_pinned_to_this_api(policy: Document) -> None:
    # Given roles holding the policy file as chalice deploy uploaded it
    iam = iam_client()
    sent = sent_documents(iam)
    with Stubber(iam) as stub:
        for role in sorted(ROLES):
            stub.add_response(
                "get_role_policy",
                {"RoleName": role, "PolicyName": role, "PolicyDocument": json.dumps(policy)},
                {"RoleName": role, "PolicyName": role},
            )
            stub.add_response(
                "put_role_policy",
                {},
                {"RoleName": role, "PolicyName": role, "PolicyDocument": ANY},
            )
        # When make deploy pins them
        done = pin_roles(iam, DEPLOYED, policy, REGION)
        stub.assert_no_pending_responses()
    # Then each may post to this API's connections, and to no other API's
    assert len(done) == len(sent) == 2
    for document in sent:
        assert allows(document, "execute-api:ManageConnections", CONNECTION)
        for elsewhere in (
            CONNECTION.replace(API, "otherapi01"),
            CONNECTION.replace(ACCOUNT, "210987654321"),
            CONNECTION.replace(REGION, "us-east-1"),
            CONNECTION.replace("/POST/", "/DELETE/"),
        ):
            assert not allows(document, "execute-api:ManageConnections", elsewhere)
        assert ":*:*:" not in json.dumps(document)  # every ARN names this region/account


def test_pinned_roles_are_left_alone(policy: Document) -> None:
    iam = iam_client()
    with Stubber(iam) as stub:
        for role in sorted(ROLES):
            # Given policies already pinned (IAM returns them as URL-encoded JSON)
            pinned = pin_policy(policy, Pins("aws", REGION, ACCOUNT, API))
            stub.add_response(
                "get_role_policy",
                {"RoleName": role, "PolicyName": role, "PolicyDocument": quote(json.dumps(pinned))},
                {"RoleName": role, "PolicyName": role},
            )
        # Then nothing is put again
        assert pin_roles(iam, DEPLOYED, policy, REGION) == []
        stub.assert_no_pending_responses()


def test_the_roles_are_read_from_the_deployment_record(tmp_path: Path) -> None:
    resources: list[dict[str, Any]] = [
        {"name": "websocket_api", "resource_type": "websocket_api", "websocket_api_id": API},
        *(
            {"name": f"{n}_role", "resource_type": "iam_role", "role_name": n, "role_arn": a}
            for n, a in ROLES.items()
        ),
    ]
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    record = tmp_path / ".chalice" / "deployed" / "prod.json"
    record.write_text(json.dumps({"resources": resources}))
    assert Deployed.read(tmp_path, "prod") == DEPLOYED
