"""`python -m clients.terminal --user <id>` (what `make client` runs) in a pseudo-terminal:
it finds the local stack through DATA_DIR, mints its token, chats, and quits cleanly."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.e2e.support import Stack, new_user

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class Terminal:
    """A child process on a pseudo-terminal; `screen` is everything it wrote, sans escapes."""

    def __init__(self, argv: list[str], rows: int = 30, cols: int = 120) -> None:
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True
        )
        os.close(slave)
        self._raw = b""

    @property
    def screen(self) -> str:
        return ANSI.sub(b"", self._raw).decode("utf-8", "replace")

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if ready:
            try:
                self._raw += os.read(self._master, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; screen:\n{self.screen[-3000:]}")
            self._read(0.05)

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def exit_code(self, timeout: float = 10.0) -> int | None:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        return self.process.poll()

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        os.close(self._master)


def test_make_client_finds_the_local_stack_and_chats(local_stack: Stack) -> None:
    stack = local_stack
    a, b = new_user(), new_user()
    data_dir = stack.extra["data_dir"]
    with stack.chat(a) as chat_a:
        chat_a.send(b, "waiting in unread")
        term = Terminal(
            [
                sys.executable,
                "-m",
                "clients.terminal",
                "--user",
                str(b),
                "--data-dir",
                str(data_dir),
            ]
        )
        try:
            term.wait_for("waiting in unread")
            term.wait_for("connected")
            term.type(f"/to {a}\r")
            term.wait_for(f"conversation with {a}")
            term.type("typed in a real terminal\r")
            got = chat_a.expect("message")["message"]
            assert (got["from"], got["content"]) == (b, "typed in a real terminal")
            term.wait_for("typed in a real terminal ✓")
            term.type("/quit\r")
            assert term.exit_code() == 0
        finally:
            term.close()
    assert stack.all_unread(b) == []


def test_make_client_without_a_stack_explains_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clients.terminal", "--user", "1", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "make dev" in result.stderr
