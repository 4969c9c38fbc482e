"""Small helpers shared by the benchmarks: percentiles and writing results into docs.

A result block lives between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in a
Markdown file, so re-running a benchmark replaces its own figures and nothing else.
"""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# Settings that change what a benchmark measures, shown in front of its command -- as
# the benchmark was started, before it set any for the stack it runs.
_ENV_THAT_MATTERS = ("IM_FERRETDB_BACKEND",)
_STARTED_WITH = dict(os.environ)


def command_line() -> str:
    env = [f"{n}={_STARTED_WITH[n]}" for n in _ENV_THAT_MATTERS if _STARTED_WITH.get(n)]
    if _STARTED_WITH.get("MONGODB_URI"):
        env.append("MONGODB_URI=<yours>")
    return " ".join([*env, ".venv/bin/python -m", shlex.join([_module_name(), *sys.argv[1:]])])


def _module_name() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def block(name: str, body: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!-- bench:{name} -->\n"
        f"Measured {stamp} on {machine()} with:\n\n"
        f"```\n{command_line()}\n```\n\n{body.rstrip()}\n"
        f"<!-- /bench:{name} -->"
    )


def write_block(path: Path, name: str, body: str) -> None:
    """Replace (or append) this benchmark's block in `path`."""
    text = path.read_text() if path.exists() else ""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    new = block(name, body)
    if start in text and end in text:
        before = text[: text.index(start)]
        after = text[text.index(end) + len(end) :]
        text = before + new + after
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
