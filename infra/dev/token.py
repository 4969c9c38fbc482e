"""`make -s token USER=<id>`: print only a JWT valid for the local stack in DATA_DIR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.dev.tokens import DEFAULT_TTL_SECONDS, local_secret, mint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token")
    parser.add_argument("--user", required=True, help="user id (1 .. 2^63-1)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds")
    args = parser.parse_args(argv)
    if not args.user.isdigit():
        print("token: the user id is a positive integer, e.g. USER=1", file=sys.stderr)
        return 2
    try:
        token = mint(int(args.user), local_secret(args.data_dir), args.ttl)
    except ValueError as exc:
        print(f"token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
