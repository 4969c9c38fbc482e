"""`make client USER=<id>` / `python -m clients.terminal`: chat from a terminal.

    python -m clients.terminal --user 1                  # the local stack in .data
    python -m clients.terminal --user 1 --to 2           # talking to user 2 first
    python -m clients.terminal --user 1 --group 123      # or in group 123
    python -m clients.terminal --ws-url wss://... --rest-url https://... --token <JWT>

The token can also come from the IM_TOKEN environment variable, which keeps it out
of the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clients.terminal.messages import parse_group_id, parse_user_id
from clients.terminal.session import Timing
from clients.terminal.target import Target, TargetError, deployment_target, local_target
from clients.terminal.ui import ChatApp


def _user_id(text: str) -> int:
    try:
        return parse_user_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _group_id(text: str) -> int:
    try:
        return parse_group_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 9 * 60:
        raise argparse.ArgumentTypeError(
            "give seconds between 0 and 540 (API Gateway idles at 600)"
        )
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make client", description="serverless-im terminal chat")
    p.add_argument("--user", type=_user_id, help="your user id on the local stack")
    p.add_argument("--data-dir", type=Path, default=Path(".data"), help="the local stack's")
    p.add_argument("--ws-url", help="a deployment's WebSocket URL (wss://...)")
    p.add_argument("--rest-url", help="a deployment's REST URL (https://.../api)")
    p.add_argument("--token", default=os.environ.get("IM_TOKEN"), help="JWT (or IM_TOKEN)")
    first = p.add_mutually_exclusive_group()
    first.add_argument("--to", type=_user_id, dest="peer", help="who to talk to first")
    first.add_argument("--group", type=_group_id, help="the group to open first")
    p.add_argument("--ping-interval", type=_seconds, default=Timing.ping_interval)
    return p


def target_from(args: argparse.Namespace) -> Target:
    remote = (args.ws_url, args.rest_url, args.token)
    if any(remote[:2]):
        if not all(remote):
            raise TargetError("a deployment needs --ws-url, --rest-url and --token")
        return deployment_target(args.ws_url, args.rest_url, args.token)
    if args.user is None:
        raise TargetError("give your user id (make client USER=<id>) or a deployment's URLs")
    return local_target(args.data_dir, args.user)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        target = target_from(args)
    except TargetError as exc:
        print(f"client: {exc}", file=sys.stderr)
        return 2
    app = ChatApp(
        target.ws_url,
        target.rest_url,
        target.token,
        user=target.user,
        peer=args.peer,
        group=args.group,
        timing=Timing(ping_interval=args.ping_interval),
    )
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
