"""The fault tier's scenarios (tests/faults/scenarios.py), run for their figures: what
the stack answered while degraded and how fast, how long it took to recover, and the
counts acked / stored / duplicated / lost.

    python -m bench.faults [--only NAME ...] [--write docs/reliability.md]

Each scenario gets a stack of its own (`make dev`'s gateway with its own FerretDB and
redis-server, tests/faults/stack.py) in a temporary directory, breaks it during traffic
and repairs it. The tests assert the counts and the answers; the times are only
recorded here.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.report import percentile, write_block
from tests.faults import scenarios
from tests.faults.scenarios import Outcome
from tests.faults.stack import FaultStack, fault_stack


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str  # what is done to the stack, for the table
    run: Callable[[FaultStack], Outcome]
    redis_persist: bool = False


SCENARIOS = (
    Scenario(
        "redis_killed_mid_stream",
        "Redis SIGKILLed during a 60-message stream, restarted empty",
        lambda f: scenarios.redis_killed_mid_stream(f, count=60),
    ),
    Scenario(
        "mongo_paused_mid_send",
        "FerretDB + wire lock SIGSTOPped 12 s during a 40-message stream; resends",
        lambda f: scenarios.mongo_paused_mid_send(f, count=40, pause_s=12.0),
    ),
    Scenario(
        "mongo_down_on_rest",
        "FerretDB + wire lock SIGKILLed; 6 REST routes x 3; restarted on its data",
        lambda f: scenarios.mongo_down_on_rest(f, rounds=3),
    ),
    Scenario(
        "whole_stack_killed",
        "gateway, FerretDB, Redis SIGKILLed during a 60-message stream; restarted",
        lambda f: scenarios.whole_stack_killed(f, count=60),
        redis_persist=True,
    ),
    Scenario(
        "disconnect_churn",
        "2 senders x 80 to 4 users; 20 of 28 connections dropped/reset, 20 flash ones",
        lambda f: scenarios.disconnect_churn(f, recipients=4, doomed=5, per_sender=80),
    ),
)


def run(scenario: Scenario) -> Outcome:
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-faults-{scenario.name}-") as tmp,
        fault_stack(Path(tmp), redis_persist=scenario.redis_persist) as faults,
    ):
        return scenario.run(faults)


def _answers(outcome: Outcome) -> str:
    return ", ".join(f"{what} x{n}" for what, n in sorted(outcome.codes().items())) or "-"


def _ms(outcome: Outcome) -> str:
    seconds = [o.seconds for o in outcome.degraded]
    if not seconds:
        return "-"
    return f"{percentile(seconds, 50) * 1000:.0f} / {max(seconds) * 1000:.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _detail(outcome: Outcome) -> str:
    notes = outcome.notes
    if outcome.scenario == "redis_killed_mid_stream":
        tries = notes["sign_in_again"]
        refused = Counter(o.what for o in tries[:-1])
        spent = sum(o.seconds for o in tries) + 0.25 * (len(tries) - 1)
        return (
            "the recipient's keep-alive after the restart was answered "
            + (", ".join(f"`{w}` x{n}" for w, n in refused.items()) or "nothing else")
            + f" (a container's Redis breaker cooling down), then `pong` (~{spent:.1f} s)"
        )
    if outcome.scenario == "mongo_paused_mid_send":
        return (
            f"{notes['unacked_before_resend']} sends without an ack resent with their ack_id; "
            f"{notes['resends_stored_already']} of them had been stored already (answered "
            "`duplicate`, same message id), the others were stored by the resend; the "
            f"recipient's conversation list said {notes['unread_count']} unread for "
            f"{outcome.audit.stored} unread messages"
        )
    if outcome.scenario == "mongo_down_on_rest":
        bodies = sorted({str(body) for _, _, body in notes["answers"]})
        return f"bodies: {'; '.join(bodies)}; unread unchanged: " + (
            "yes" if notes["unread_after"] == notes["unread_before"] else "NO"
        )
    if outcome.scenario == "whole_stack_killed":
        return (
            f"processes back and serving {notes['restart_s']:.2f} s after the restart began; "
            f"{notes['resends_stored_already']} resent in-flight sends had been stored already"
        )
    if outcome.scenario == "disconnect_churn":
        pruned = notes["present"] == notes["live"]
        return (
            f"{notes['dropped']} dropped without $disconnect, {notes['reset']} reset by the "
            f"client, {notes['flashes']} opened and reset; presence = live connections: "
            + ("yes" if pruned else "NO")
        )
    return ""


def body(results: list[tuple[Scenario, Outcome]]) -> str:
    lines = [
        "| scenario | fault | answers while degraded | answer p50 / max ms "
        "| first ack s | first push s | acked | stored | duplicated | lost |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, outcome in results:
        a = outcome.audit
        lines.append(
            f"| {scenario.name} | {scenario.fault} | {_answers(outcome)} | {_ms(outcome)} "
            f"| {_seconds(outcome.recover_s)} | {_seconds(outcome.push_s)} "
            f"| {a.acked} | {a.stored} | {a.duplicated} "
            f"| {a.lost + a.mismatched} |"
        )
    lines += ["", "Per scenario:", ""]
    lines += [f"- **{s.name}**: {_detail(o)}." for s, o in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    results = []
    for scenario in chosen:
        print(f"running {scenario.name} ...", flush=True)
        results.append((scenario, run(scenario)))
    text = body(results)
    print(text)
    if args.write:
        write_block(args.write, "faults", text)


if __name__ == "__main__":
    main()
