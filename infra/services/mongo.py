"""A MongoDB-compatible server: MONGODB_URI, else `mongod` on PATH, else FerretDB.

FerretDB v1 (Apache-2.0, MongoDB wire protocol) with its SQLite backend is built from
its Go module into a cache outside the repository, once per version. Its module zip
lacks the generated `build/version/version.txt`, without which the binary panics at
start, so we build from a writable copy of the module with that one file written.
Clients reach FerretDB through infra/services/wirelock.py, which gives it MongoDB's
single-document atomicity (FerretDB v1 has none between connections).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.services.postgres import start_postgres
from infra.services.process import ManagedProcess, Service, free_port, private_dir, wait_until

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"


def cache_root() -> Path:
    base = os.environ.get("SERVERLESS_IM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "serverless-im"
    )
    return Path(base)


def ferretdb_path() -> Path:
    return cache_root() / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"


def ensure_ferretdb(log: bool = True) -> Path:
    """Build FerretDB once into the cache; later calls return the cached binary."""
    binary = ferretdb_path()
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            "No MongoDB-compatible server: set MONGODB_URI to any MongoDB, put `mongod` on "
            "PATH, or install Go (1.24+) so FerretDB can be built."
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent `make` runs build once
        if binary.exists():
            return binary
        if log:
            print(f"building FerretDB {FERRETDB_VERSION} into {binary} (once; about a minute)")
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        info = subprocess.run(
            [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        module_dir = Path(json.loads(info.stdout)["Dir"])
        with tempfile.TemporaryDirectory(prefix="ferretdb-build-") as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(module_dir, src)
            for path in src.rglob("*"):  # the module cache is read-only
                path.chmod(path.stat().st_mode | 0o200)
            (src / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
            partial = binary.with_suffix(".partial")
            subprocess.run(
                [go, "build", "-trimpath", "-o", str(partial), "./cmd/ferretdb"],
                cwd=src,
                check=True,
                env=env,
            )
            partial.rename(binary)
    return binary


def _pings(uri: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def start_mongo(data_dir: Path, port: int | None = None, use_env: bool = True) -> Service:
    """MONGODB_URI when set (and `use_env`); else start mongod or FerretDB with its data
    in `data_dir`, clients on `port` (a free one by default).

    FerretDB's backend is SQLite, or PostgreSQL with IM_FERRETDB_BACKEND=postgresql.
    `use_env=False` always starts a server of our own (tests that kill it).
    """
    uri = os.environ.get("MONGODB_URI") if use_env else None
    if uri:
        return Service("mongodb", uri)
    port = port or free_port()  # the port clients use
    mongod = shutil.which("mongod")
    server_port = port if mongod else free_port()  # FerretDB itself sits behind the lock
    backend = os.environ.get("IM_FERRETDB_BACKEND", "sqlite")
    # The messages are private: the directory is the owner's alone, and the server's
    # umask makes every file it creates 0600 (directories 0700). PostgreSQL as root runs
    # as `postgres`, which must be able to pass through (not list) to its cluster.
    postgres_as_other_user = backend == "postgresql" and os.geteuid() == 0 and not mongod
    private_dir(data_dir, 0o711 if postgres_as_other_user else 0o700)
    postgres: Service | None = None
    if mongod:
        argv = [mongod, "--dbpath", str(data_dir), "--port", str(port), "--bind_ip", "127.0.0.1"]
        name = "mongod"
    else:
        if backend == "postgresql":
            postgres = start_postgres(data_dir / "postgres")
            handler = ["--handler=postgresql", f"--postgresql-url={postgres.url}"]
        elif backend == "sqlite":
            handler = ["--handler=sqlite", f"--sqlite-url=file:{data_dir}/"]
        else:
            raise RuntimeError("IM_FERRETDB_BACKEND is sqlite or postgresql")
        argv = [
            str(ensure_ferretdb()),
            *handler,
            f"--listen-addr=127.0.0.1:{server_port}",
            f"--state-dir={data_dir}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]
        name = f"ferretdb-{backend}"
    process = ManagedProcess(name, argv, data_dir / "mongo.log", cwd=data_dir, umask=0o077)
    companions = [postgres] if postgres else []
    direct = f"mongodb://127.0.0.1:{server_port}/"
    uri = direct
    try:
        wait_until(lambda: _pings(direct), process)
        if not mongod:
            lock = _start_wirelock(port, server_port, data_dir)
            companions.insert(0, lock)
            uri = lock.url
    except BaseException:
        process.stop()
        for companion in companions:
            companion.stop()
        raise
    service = Service("mongodb", uri, process, data_dir, {"server": name})
    service.companions = companions
    return service


def _start_wirelock(port: int, upstream_port: int, data_dir: Path) -> Service:
    argv = [
        sys.executable,
        "-m",
        "infra.services.wirelock",
        "--port",
        str(port),
        "--upstream",
        f"127.0.0.1:{upstream_port}",
    ]
    root = Path(__file__).resolve().parents[2]
    process = ManagedProcess("wirelock", argv, data_dir / "wirelock.log", cwd=root)
    uri = f"mongodb://127.0.0.1:{port}/"
    wait_until(lambda: _pings(uri), process)
    return Service("wirelock", uri, process, data_dir)
