"""A MongoDB-compatible server: MONGODB_URI, else `mongod` on PATH, else FerretDB.

FerretDB v1 (Apache-2.0, MongoDB wire protocol) with its SQLite backend is built from
its Go module into a cache outside the repository, once per version. Its module zip
lacks the generated `build/version/version.txt`, without which the binary panics at
start, so we build from a writable copy of the module with that one file written.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from infra.services.postgres import start_postgres
from infra.services.process import ManagedProcess, Service, free_port, wait_until

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


def start_mongo(data_dir: Path, port: int | None = None) -> Service:
    """MONGODB_URI when set; else start mongod or FerretDB with its data in `data_dir`.

    FerretDB's backend is SQLite, or PostgreSQL with IM_FERRETDB_BACKEND=postgresql.
    """
    uri = os.environ.get("MONGODB_URI")
    if uri:
        return Service("mongodb", uri)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    mongod = shutil.which("mongod")
    backend = os.environ.get("IM_FERRETDB_BACKEND", "sqlite")
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
            f"--listen-addr=127.0.0.1:{port}",
            f"--state-dir={data_dir}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]
        name = f"ferretdb-{backend}"
    process = ManagedProcess(name, argv, data_dir / "mongo.log", cwd=data_dir)
    uri = f"mongodb://127.0.0.1:{port}/"
    try:
        wait_until(lambda: _pings(uri), process)
    except BaseException:
        if postgres is not None:
            postgres.stop()
        raise
    service = Service("mongodb", uri, process, data_dir, {"server": name})
    service.companions = [postgres] if postgres else []
    return service
