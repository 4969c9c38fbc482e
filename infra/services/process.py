"""Child processes that are always stopped: own process group, parent-death signal,
SIGTERM then SIGKILL, from `stop()`, `atexit` and signal handlers alike."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_running: set[ManagedProcess] = set()
_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _load_prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):  # not Linux: atexit and signal handlers still apply
        return None


# Resolved before any fork: the child must not dlopen between fork and exec.
_prctl = _load_prctl()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if our process dies, even by SIGKILL,
    # the kernel sends the child SIGTERM, so nothing outlives a killed test run.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        umask: int | None = None,
    ) -> None:
        """`umask` is the child's (inherited by default): servers that write data get
        0o077, so what they create is theirs alone whatever they ask for."""
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # A server's log can echo what it stores (queries, keys): its owner's only.
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # also a log an older run left readable
        with os.fdopen(fd, "ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: Ctrl-C is ours to forward
                umask=-1 if umask is None else umask,
                # The uid switch happens before preexec_fn, so the parent-death signal
                # set there survives it (a credential change would clear it).
                user=user,
                group=_primary_group(user) if user else None,
                extra_groups=[] if user else None,
                preexec_fn=_die_with_parent,
            )
        with _lock:
            _running.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_seconds: float = 5.0) -> None:
        with _lock:
            _running.discard(self)
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


@dataclass
class Service:
    """A server we can use: its URL and, when we started it, the process behind it."""

    name: str
    url: str
    process: ManagedProcess | None = None
    data_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    companions: list[Service] = field(default_factory=list)  # started for this one

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        for companion in self.companions:
            companion.stop()


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """`path` created if missing and made `mode` (owner only by default), also when an
    older run left it open: the files inside are then out of others' reach too."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    path.chmod(mode)
    return path


def wait_until(ready: Callable[[], bool], process: ManagedProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.05)
    process.stop()
    raise RuntimeError(
        f"{process.name} did not answer within {timeout:.0f}s:\n{process.log_tail()}"
    )


def stop_all() -> None:
    with _lock:
        running = list(_running)
    for proc in running:
        proc.stop()


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP stop our children, then exit like KeyboardInterrupt would."""

    def _handler(signum: int, _frame: object) -> None:
        stop_all()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _handler)


def wait_for_signal() -> None:
    """Block the main thread until a signal handler raises (Ctrl-C, SIGTERM).

    Not `Event.wait()` or `signal.pause()`: the kernel may deliver the signal to any
    thread (the gateway's, pymongo's), and then a main thread blocked in a lock or
    pause() is never woken to run the Python handler. A short sleep loop is.
    """
    while True:
        time.sleep(0.2)


atexit.register(stop_all)
