"""Token verification: the allow-list, required claims, and what a user id may be."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chalicelib.auth import JwtVerifier, bearer_token, connect_token
from chalicelib.config import ConfigError, JwtSettings
from chalicelib.errors import Unauthorized

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4


def token(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def valid(**extra: object) -> dict[str, object]:
    return {"sub": "42", "exp": int(time.time()) + 60, **extra}


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier(JwtSettings(), secret=SECRET)


def test_valid_token_gives_its_subject(verifier: JwtVerifier) -> None:
    assert verifier.user_of(token(valid())) == 42


def _unsigned(claims: dict[str, object]) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            lambda: token(valid(), secret="another-secret-of-a-decent-length-012345"), id="forged"
        ),
        pytest.param(lambda: _unsigned(valid()), id="alg-none"),
        pytest.param(lambda: token(valid(exp=int(time.time()) - 3600)), id="expired"),
        pytest.param(lambda: token({"sub": "42"}), id="no-exp"),
        pytest.param(lambda: token({"exp": int(time.time()) + 60}), id="no-sub"),
        pytest.param(lambda: token(valid(sub="0")), id="sub-zero"),
        pytest.param(lambda: token(valid(sub="-1")), id="sub-negative"),
        pytest.param(lambda: token(valid(sub="042")), id="sub-leading-zero"),
        pytest.param(lambda: token(valid(sub="9223372036854775808")), id="sub-too-big"),
        pytest.param(lambda: token(valid(sub="alice")), id="sub-not-number"),
        pytest.param(lambda: token(valid(), alg="HS512"), id="alg-not-allowed"),
        pytest.param(lambda: "not.a.token", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_refused_tokens(verifier: JwtVerifier, bad: object) -> None:
    with pytest.raises(Unauthorized):
        verifier.user_of(bad())  # type: ignore[operator]


def test_issuer_and_audience_are_checked_when_configured() -> None:
    v = JwtVerifier(JwtSettings(issuer="https://idp", audience="im"), secret=SECRET)
    assert v.user_of(token(valid(iss="https://idp", aud="im"))) == 42
    for claims in (valid(iss="https://evil", aud="im"), valid(iss="https://idp"), valid(aud="im")):
        with pytest.raises(Unauthorized):
            v.user_of(token(claims))


@pytest.mark.parametrize(
    "settings",
    [
        {"algorithms": ("none",)},
        {"algorithms": ()},
        {"algorithms": ("HS256", "RS256"), "jwks_url": "https://idp/jwks"},
        {"algorithms": ("RS256",)},
    ],
)
def test_unsafe_algorithm_configurations_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        JwtSettings(**settings)  # type: ignore[arg-type]


def test_bearer_header_in_any_case() -> None:
    assert bearer_token({"Authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
    assert bearer_token({"authorization": "bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}) is None
    assert bearer_token({"Authorization": "Bearer"}) is None
    assert bearer_token({}) is None


def test_connect_token_prefers_query_then_header() -> None:
    assert connect_token({"token": "q"}, {"Authorization": "Bearer h"}) == "q"
    assert connect_token(None, {"Authorization": "Bearer h"}) == "h"
    assert connect_token({"other": "x"}, None) is None
