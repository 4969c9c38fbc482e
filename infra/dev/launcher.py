"""Start `python -m infra.dev` (what `make dev` runs) as a child process and wait until
it is ready -- for the end-to-end tests and the benchmarks."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.dev import ENDPOINTS_FILE
from infra.dev.tokens import local_secret
from infra.services.process import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    endpoints: dict[str, Any]  # what make dev wrote into ENDPOINTS_FILE
    secret: str
    data_dir: Path
    process: ManagedProcess


@contextmanager
def running_stack(
    data_dir: Path,
    env: dict[str, str],
    timeout: float = 90,
    port: int = 0,
    args: tuple[str, ...] = (),
) -> Iterator[RunningStack]:
    """`python -m infra.dev --port PORT [ARGS]` until the block ends; then SIGTERM and wait."""
    data_dir.mkdir(parents=True, exist_ok=True)
    endpoints = data_dir / ENDPOINTS_FILE
    endpoints.unlink(missing_ok=True)
    process = ManagedProcess(
        "make-dev",
        [
            sys.executable,
            "-m",
            "infra.dev",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        data_dir / "dev.log",
        cwd=ROOT,
        # unbuffered: the log file shows each line (and metric) as it is written
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    try:
        deadline = time.monotonic() + timeout
        while not endpoints.exists():
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"make dev did not start:\n{process.log_tail(40)}")
            time.sleep(0.05)
        yield RunningStack(
            endpoints=json.loads(endpoints.read_text()),
            secret=local_secret(data_dir),
            data_dir=data_dir,
            process=process,
        )
    finally:
        process.stop(grace_seconds=15)
