"""Where `make client` connects: the local stack's endpoints file, or a deployment."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jwt
import pytest

from clients.terminal.__main__ import parser, target_from
from clients.terminal.target import TargetError, deployment_target, local_target
from infra.dev.tokens import local_secret

ENDPOINTS = {
    "ws_url": "ws://127.0.0.1:8123/api",
    "rest_url": "http://127.0.0.1:8123/api",
    "management_url": "http://127.0.0.1:8123/api",
    "admin_url": "http://127.0.0.1:8123/_localgw",
    "pid": 1,
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("IM_JWT_SECRET", raising=False)
    (tmp_path / "local-endpoints.json").write_text(json.dumps(ENDPOINTS))
    return tmp_path


def test_local_target_reads_the_endpoints_and_mints_like_make_token(data_dir: Path) -> None:
    target = local_target(data_dir, 42)

    assert (target.ws_url, target.rest_url, target.user) == (
        ENDPOINTS["ws_url"],
        ENDPOINTS["rest_url"],
        42,
    )
    claims = jwt.decode(target.token(), local_secret(data_dir), algorithms=["HS256"])
    assert claims["sub"] == "42" and claims["exp"] > claims["iat"]


def test_no_local_stack_says_to_start_make_dev(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="make dev"):
        local_target(tmp_path, 1)
    assert not (tmp_path / "jwt-secret").exists()  # nothing created on the way


def test_a_garbled_endpoints_file_is_reported(data_dir: Path) -> None:
    (data_dir / "local-endpoints.json").write_text("{")
    with pytest.raises(TargetError, match="not what"):
        local_target(data_dir, 1)


def test_deployment_target_checks_what_it_is_given() -> None:
    token = jwt.encode({"sub": "7"}, "a-secret-that-is-long-enough-for-hs256")
    target = deployment_target("wss://x.example/prod/", "https://y.example/api/", token)
    assert (target.ws_url, target.rest_url, target.user, target.token()) == (
        "wss://x.example/prod",
        "https://y.example/api",
        7,
        token,
    )
    for ws, rest, tok, problem in [
        ("https://x", "https://y", token, "ws-url"),
        ("wss://x", "ftp://y", token, "rest-url"),
        ("wss://x", "https://y", "not-a-jwt", "token"),
    ]:
        with pytest.raises(TargetError, match=problem):
            deployment_target(ws, rest, tok)


def args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def test_command_line_picks_local_or_deployment(data_dir: Path) -> None:
    local = target_from(args("--user", "5", "--data-dir", str(data_dir)))
    assert local.user == 5 and local.ws_url == ENDPOINTS["ws_url"]

    token = jwt.encode({"sub": "9"}, "a-secret-that-is-long-enough-for-hs256")
    remote = target_from(args("--ws-url", "wss://w", "--rest-url", "https://r", "--token", token))
    assert remote.user == 9 and remote.ws_url == "wss://w"

    with pytest.raises(TargetError, match="--ws-url, --rest-url and --token"):
        target_from(args("--ws-url", "wss://w", "--token", token))
    with pytest.raises(TargetError, match="user id"):
        target_from(args())


def test_the_first_conversation_is_a_user_or_a_group() -> None:
    assert (args("--to", "7").peer, args("--to", "7").group) == (7, None)
    assert (args("--group", "g:12").peer, args("--group", "12").group) == (None, 12)


@pytest.mark.parametrize(
    "argv",
    [
        ["--user", "0"],
        ["--user", "x"],
        ["--ping-interval", "900"],
        ["--group", str(2**53)],
        ["--to", "2", "--group", "3"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        args(*argv)
