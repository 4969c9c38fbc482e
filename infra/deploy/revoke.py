"""`make revoke USER=<id>`: end every session of a user now.

Tokens the user holds that were issued before now are refused from now on (for
`--keep-seconds`, which must cover your tokens' lifetime), every live connection's
session ends in presence, and API Gateway closes those connections (DeleteConnection).
The user signs in again with a token issued afterwards (a second later: `iat` has
one-second resolution).

Local stack (the default): reads DATA_DIR/local-endpoints.json. A deployment: give
`--redis-url` (or REDIS_URL) and `--management-url` (the WebSocket API's
`https://<id>.execute-api.<region>.amazonaws.com/<stage>`); AWS credentials as for boto3.

    python -m infra.deploy.revoke --user 42 [--data-dir .data] [--keep-seconds 86400]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from infra.dev import ENDPOINTS_FILE


def revoke(user: int, redis_url: str, management_url: str, keep_seconds: int) -> tuple[int, int]:
    """(sessions ended, connections closed)."""
    import boto3
    import redis

    from chalicelib.management import SignedConnectionsApi
    from chalicelib.presence import Presence

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ended = Presence(client).revoke(user, keep_seconds)
    finally:
        client.close()
    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("no AWS credentials to sign DeleteConnection with")
    api = SignedConnectionsApi(management_url, credentials, session.region_name or "us-east-1")
    closed = sum(api.delete(connection_id) for connection_id in ended)
    return len(ended), closed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make revoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--user", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--management-url")
    parser.add_argument("--keep-seconds", type=int, default=24 * 3600)
    args = parser.parse_args(argv)
    redis_url, management_url = args.redis_url, args.management_url
    if not management_url:
        endpoints = args.data_dir / ENDPOINTS_FILE
        if not endpoints.exists():
            parser.error(f"no {endpoints}: is `make dev` running? (or give the URLs)")
        local = json.loads(endpoints.read_text())
        management_url, redis_url = local["management_url"], local["redis_url"]
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")  # the local gateway's
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    if not redis_url:
        parser.error("give --redis-url (or REDIS_URL)")
    ended, closed = revoke(args.user, redis_url, management_url, args.keep_seconds)
    print(f"user {args.user}: {ended} sessions ended, {closed} connections closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
