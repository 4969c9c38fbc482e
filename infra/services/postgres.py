"""A private PostgreSQL cluster for FerretDB's PostgreSQL backend (optional, faster
filters than SQLite: FerretDB pushes equality on scalar fields down to PostgreSQL).

Uses Debian's `postgresql` binaries. PostgreSQL refuses to run as root, so as root the
cluster belongs to the `postgres` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from infra.services.process import ManagedProcess, Service, free_port, wait_until

PG_USER = "ferretdb"


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (version_dir / name).exists():
            return str(version_dir / name)
    raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError as exc:
        raise RuntimeError("as root, PostgreSQL needs the `postgres` system user") from exc


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def start_postgres(data_dir: Path, port: int | None = None) -> Service:
    user = _run_as()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        for parent in data_dir.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                raise RuntimeError(
                    f"PostgreSQL runs as `{user}`, which cannot traverse {parent}; "
                    "use a data directory it can reach"
                )
    if not (data_dir / "PG_VERSION").exists():
        initdb = [
            _pg_bin("initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]
        subprocess.run(initdb, check=True, capture_output=True, user=user)
    port = port or free_port()
    argv = [
        _pg_bin("postgres"),
        "-D",
        str(data_dir),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        str(data_dir),
        "-c",
        "logging_collector=off",
    ]
    process = ManagedProcess(
        "postgres", argv, data_dir.parent / "postgres.log", cwd=data_dir, user=user, umask=0o077
    )
    wait_until(lambda: _accepts(port), process)
    url = f"postgres://{PG_USER}@127.0.0.1:{port}/postgres"
    # accepting TCP is not yet accepting queries; FerretDB retries its connection pool
    return Service("postgres", url, process, data_dir)
