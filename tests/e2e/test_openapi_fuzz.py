"""Schemathesis against the local stack, from docs/openapi.yaml: every operation (each
route's POST and its CORS preflight), with bodies generated from the request schemas --
valid ones and invalid ones -- and a valid bearer token; schemathesis also sends each
request without a token and with a bad one (`ignored_auth`).

Every response must be a documented status with a documented body and content type,
never a 5xx; valid bodies must not be refused except as the API documents (below);
invalid ones must be refused. Bounded and reproducible: a fixed seed and a fixed number
of examples per operation. Local only: it writes junk into the stack's database.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from infra.openapi import DOCUMENT
from tests.e2e.support import Stack, new_user

# Per operation, in the fuzzing phase (the coverage phase adds its own boundary cases).
# IM_FUZZ_EXAMPLES / IM_FUZZ_SEED run a longer or different search by hand.
MAX_EXAMPLES = int(os.environ.get("IM_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("IM_FUZZ_SEED", "20261127"))

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "phases": {
            "examples": {"enabled": False},  # the document has no examples
            "coverage": {"enabled": True},  # boundaries, missing fields, other methods
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {
            # Every check schemathesis has; these two with our statuses:
            "positive_data_acceptance": {
                # A valid-by-schema body can still break a rule no schema states: an
                # opaque cursor that is not ours, `to` with `group_id`, `before_seq`
                # with `after_seq`, a blank group name (400); a group or message of
                # someone else (403) or of no one (404).
                "expected-statuses": ["2xx", "400", "403", "404"],
            },
            "negative_data_rejection": {
                # Content over 8,000 characters is 413 (the contract's `too_large`).
                "expected-statuses": ["400", "401", "403", "404", "405", "413", "415"],
            },
        },
    }
)
SCHEMA = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)

# What the run did, per operation and status (printed at the end of the module).
SEEN: Counter[tuple[str, int]] = Counter()
_LOCK = threading.Lock()


@pytest.fixture(scope="module")
def fuzzer(stack: Stack) -> Iterator[tuple[Stack, dict[str, str]]]:
    """The local stack and the headers of one user who has something to list: a 1:1
    message from a peer, and a group with that peer."""
    if not stack.local:
        pytest.skip("fuzzing writes junk data; local stack only")
    user, peer = new_user(), new_user()
    stack.send_rest(peer, "hello", to=user)
    group = stack.create_group(peer, [user], name="fuzz")
    stack.send_rest(peer, "to the group", group_id=group["group_id"])
    yield stack, {"Authorization": f"Bearer {stack.token(user)}"}
    print("\nschemathesis requests (operation, status: count):")
    for (label, status), n in sorted(SEEN.items()):
        print(f"  {label} {status}: {n}")
    print(f"  total: {sum(SEEN.values())}")


@SCHEMA.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
def test_every_operation_answers_as_documented(
    case: Case[Any], fuzzer: tuple[Stack, dict[str, str]]
) -> None:
    stack, headers = fuzzer
    response = case.call_and_validate(base_url=stack.rest_url, headers=headers, timeout=30)
    with _LOCK:
        SEEN[(case.operation.label, response.status_code)] += 1
    assert response.status_code < 500
