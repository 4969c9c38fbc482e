"""The stage IAM policies in `.chalice/policy-<stage>.json`, pinned to one deployment.

`chalice deploy` uploads a policy file verbatim, before the WebSocket API exists, so the
files cannot name the region, the account or the API id: those ARN fields are `*`, and
everything else is exact (the stage's own log groups, `POST` on the `api` stage's
`@connections`, the named parameters and secrets). A packaged template does know them,
so `make package` pins each such `*` to the template's own partition, region, account
and WebSocket API -- CloudFormation pseudo parameters or Terraform references.

`allows` is a small evaluator of Allow statements (IAM wildcard matching, conditions
ignored) that lets tests ask concrete questions of a policy instead of reading JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Document = dict[str, Any]

_ARN = re.compile(
    r"arn:aws:(?P<service>[a-z0-9-]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)",
    re.DOTALL,
)
_SUB = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Pins:
    """What replaces a wildcard partition / region / account / WebSocket API id."""

    partition: str
    region: str
    account: str
    websocket_api: str


CLOUDFORMATION = Pins("${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}", "${WebsocketAPI}")
TERRAFORM = Pins(
    "${data.aws_partition.chalice.partition}",
    "${data.aws_region.chalice.name}",
    "${data.aws_caller_identity.chalice.account_id}",
    "${aws_apigatewayv2_api.websocket_api.id}",
)


def load_policy(project_dir: Path, filename: str) -> Document:
    document: Document = json.loads((project_dir / ".chalice" / filename).read_text())
    return document


def pin_arn(value: str, pins: Pins) -> str:
    """`arn:aws:svc:*:*:rest` -> the pinned ARN; anything else is returned unchanged."""
    match = _ARN.fullmatch(value)
    if match is None:
        return value
    region = pins.region if match["region"] == "*" else match["region"]
    account = pins.account if match["account"] == "*" else match["account"]
    resource = match["resource"]
    if match["service"] == "execute-api" and resource.startswith("*/"):
        resource = pins.websocket_api + resource[1:]
    return f"arn:{pins.partition}:{match['service']}:{region}:{account}:{resource}"


def pin_policy(document: Document, pins: Pins, wrap: Callable[[str], Any] = str) -> Document:
    """A copy of `document` with every ARN in Resource and Condition values pinned;
    `wrap` turns a pinned string into what the template needs (e.g. `Fn::Sub`)."""

    def pin(value: Any) -> Any:
        if isinstance(value, list):
            return [pin(v) for v in value]
        return wrap(pin_arn(value, pins)) if isinstance(value, str) else value

    pinned: Document = json.loads(json.dumps(document))
    for statement in pinned["Statement"]:
        if "Resource" in statement:
            statement["Resource"] = pin(statement["Resource"])
        for operator, tests in statement.get("Condition", {}).items():
            statement["Condition"][operator] = {key: pin(v) for key, v in tests.items()}
    return pinned


def cloudformation_sub(value: str) -> Any:
    return {"Fn::Sub": value} if "${" in value else value


def resolve(value: Any, names: Mapping[str, str]) -> Any:
    """Evaluate `Fn::Sub` strings (no other intrinsics) against concrete values."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return _SUB.sub(lambda m: names[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


def _matches(value: str, pattern: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character, nothing else."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Document) -> Iterator[Document]:
    yield from document["Statement"]


def allows(document: Document, action: str, resource: str) -> bool:
    """Whether some Allow statement grants `action` on `resource` (conditions ignored)."""
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(_matches(action, a, ignore_case=True) for a in actions):
            continue
        if any(_matches(resource, r) for r in _as_list(statement.get("Resource", []))):
            return True
    return False


def ssm_parameter_arn(name: str, region: str, account: str) -> str:
    """The ARN IAM checks for parameter `name` (a leading `/` is not doubled)."""
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
