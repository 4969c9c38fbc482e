"""The rules a setting must meet, as pure functions: chalicelib/config.py applies them
to the environment, chalicelib/deps.py to secrets read from SSM or Secrets Manager.

Every refusal is a `ConfigError` naming the setting and the rule. None shows the value:
a URL may hold a password and a secret is a secret (docs/deploy.md lists the rules).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

# RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
HMAC_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


class ConfigError(ValueError):
    """The deployment's configuration is wrong; no request can be served."""


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def check_hmac_secret(secret: str, algorithms: Iterable[str], source: str) -> None:
    """Refuse an HMAC secret shorter than RFC 7518 allows for the strongest configured
    algorithm. `source` names where it came from; the secret itself is never shown."""
    needs = {a: HMAC_MIN_SECRET_BYTES[a] for a in algorithms if a in HMAC_MIN_SECRET_BYTES}
    if not needs:
        return
    algorithm = max(needs, key=needs.__getitem__)
    if len(secret.encode()) < needs[algorithm]:
        raise ConfigError(
            f"{source} is too short for {algorithm}: it must be at least "
            f"{needs[algorithm]} bytes (RFC 7518 section 3.2)"
        )


def check_redis_url(url: str, source: str, production: bool) -> None:
    """Refuse a Redis URL that is not one, or that production must not use (no TLS, no
    AUTH). The URL may hold a password, so no message or chained error contains it."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        parts, password = None, None
    if parts is None or parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{source} must be a redis://, rediss:// or unix:// URL")
    if production and parts.scheme != "rediss":
        raise ConfigError(f"{source}: with IM_PRODUCTION, Redis must use TLS (rediss://)")
    if production and not password:
        raise ConfigError(
            f"{source}: with IM_PRODUCTION, Redis must require AUTH: "
            "rediss://[<user>]:<password>@<host>:6379/0"
        )


def check_jwks_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is not None and host and parts.scheme == "https":
        return
    if parts is not None and parts.scheme == "http" and _is_loopback(host):
        return  # a key server on this machine (tests): nothing on the network to spoof
    raise ConfigError(
        "IM_JWT_JWKS_URL must be an https:// URL (http:// only for a loopback host): "
        "whoever can alter the key set can sign any token"
    )


def check_cors_origins(origins: tuple[str, ...], insecure_local: bool) -> tuple[str, ...]:
    """The allow-list as given, if every entry is an origin a browser could send."""
    for origin in origins:
        if origin == "*":
            if not insecure_local:
                raise ConfigError(
                    "IM_CORS_ALLOW_ORIGINS: `*` (every origin) is for local use only "
                    "(IM_ALLOW_INSECURE_LOCAL=true); list your web client's origins"
                )
            continue
        try:
            parts = urlsplit(origin)
        except ValueError:
            parts = urlsplit("")
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or "@" in parts.netloc
            or f"{parts.scheme}://{parts.netloc}" != origin
            or origin != origin.lower()
        ):
            # A browser sends `scheme://host[:port]`, lower case: anything else would
            # silently never match.
            raise ConfigError(
                f"IM_CORS_ALLOW_ORIGINS: {origin!r} is not an origin; write "
                "scheme://host[:port] in lower case, without a path or trailing slash"
            )
    return origins
