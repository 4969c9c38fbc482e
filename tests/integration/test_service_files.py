"""What the local servers write is their owner's alone: FerretDB's SQLite files (the
messages), Redis's append-only file (who each connection is) and the servers' logs are
0600 in 0700 directories, on really started servers, also over a directory an older
run left open."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient

from infra.services import start_mongo, start_redis

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MONGODB_URI") or os.environ.get("REDIS_URL")),
    reason="checks the files of servers started here",
)


def open_to_others(root: Path) -> list[str]:
    """Every path under `root` (itself included) that group or others may use."""
    paths = [root, *root.rglob("*")]
    return [f"{p} {stat.filemode(p.lstat().st_mode)}" for p in paths if p.lstat().st_mode & 0o077]


def test_message_and_presence_files_are_private(tmp_path: Path) -> None:
    # Given data directories an older run left readable by everyone
    for name in ("mongo", "redis"):
        (tmp_path / name).mkdir(mode=0o755)
        (tmp_path / name).chmod(0o755)
    mongo = start_mongo(tmp_path / "mongo")
    try:
        redis_service = start_redis(tmp_path / "redis", persist=True)
        try:
            # When both store something
            client: MongoClient[dict[str, Any]] = MongoClient(mongo.url)
            try:
                client["perm_check"]["messages"].insert_one({"content": "private"})
            finally:
                client.close()
            r = redis.Redis.from_url(redis_service.url)
            try:
                r.set("im:conn:{c:perm}", "42")
            finally:
                r.close()
            # Then every file and directory they hold is the owner's only
            mongo_files = [p.name for p in (tmp_path / "mongo").iterdir()]
            assert any(n.endswith(".sqlite") for n in mongo_files) or "mongod" in mongo.extra.get(
                "server", ""
            ), mongo_files
            assert list((tmp_path / "redis").rglob("*.aof")), "no append-only file"
            assert open_to_others(tmp_path / "mongo") == []
            assert open_to_others(tmp_path / "redis") == []
        finally:
            redis_service.stop()
    finally:
        mongo.stop()
