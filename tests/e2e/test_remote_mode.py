"""The remote mode of this suite (`make e2e WS_URL=... REST_URL=... TOKEN_CMD=...`),
exercised by pointing it at the local stack as if it were a deployment."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.support import Stack

pytestmark = pytest.mark.slow


def test_suite_runs_against_a_stack_given_only_its_urls_and_a_token_command(
    local_stack: Stack,
) -> None:
    data_dir = local_stack.extra["data_dir"]
    token_cmd = shlex.join(
        [sys.executable, "-m", "infra.dev.token", "--data-dir", str(data_dir), "--user"]
    )
    env = {
        **os.environ,
        "IM_E2E_WS_URL": local_stack.ws_url,
        "IM_E2E_REST_URL": local_stack.rest_url,
        "IM_E2E_TOKEN_CMD": token_cmd,
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/e2e/test_messaging.py",
            "tests/e2e/test_auth.py",
            "tests/e2e/test_connections.py",
            "-k",
            "not many_users",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    # what needs the local gateway's test API is skipped, not failed
    assert " skipped" in summary
