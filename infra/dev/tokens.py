"""Local identities: the HS256 secret kept in DATA_DIR, and tokens minted with it.

The secret is generated once (0600) so tokens stay valid across `make dev` restarts;
IM_JWT_SECRET overrides it. This is for local use only: deployed stages verify tokens
from their own issuer and never mint any.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

from chalicelib.models import USER_ID_MAX

SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret
DEFAULT_TTL_SECONDS = 24 * 3600


def local_secret(data_dir: Path) -> str:
    """IM_JWT_SECRET, else the secret in `data_dir`, created on first use."""
    from_env = os.environ.get("IM_JWT_SECRET")
    if from_env:
        return from_env
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def mint(user_id: int, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    if not 1 <= user_id <= USER_ID_MAX:
        raise ValueError("user ids are integers from 1 to 2^63-1")
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
