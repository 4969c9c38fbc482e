"""`python -m infra.services ensure` builds/installs the servers the tests and `make dev`
need (so the first test run does not spend its time there); `run` starts both and waits."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from infra.services import ensure_ferretdb, ensure_redis_server, start_mongo, start_redis, stop_all
from infra.services.process import install_signal_handlers, wait_for_signal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.services")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure", help="build FerretDB and install redis-server when missing")
    run = sub.add_parser("run", help="start MongoDB-compatible server and Redis; Ctrl-C stops")
    run.add_argument("--data-dir", type=Path, default=Path(".data"))
    args = parser.parse_args(argv)

    if args.command == "ensure":
        if not os.environ.get("MONGODB_URI") and not shutil.which("mongod"):
            print(f"ferretdb: {ensure_ferretdb()}")
        if not os.environ.get("REDIS_URL"):
            print(f"redis-server: {ensure_redis_server()}")
        return 0

    install_signal_handlers()
    data_dir = args.data_dir.resolve()
    try:
        mongo = start_mongo(data_dir / "mongo")
        redis = start_redis(data_dir / "redis")
        print(f"MONGODB_URI={mongo.url}\nREDIS_URL={redis.url}", flush=True)
        wait_for_signal()
    except KeyboardInterrupt:
        pass
    finally:
        stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
