"""`python -m evals faults [--n 1000] [--seed S] [--kill-share 0.1]`: randomized fault injection.

Each case takes a valid write from the τ²-bench gold replays or probe calls (after the writes that
precede it in its task), a random checkpoint that write passes through, and a random fault: an
exception, or for a share of cases the death of the writing process (`os._exit` in a forked
child, mid-transaction). Writes above the approval threshold are parked, so for those the fault
may instead hit the staff decision that executes them.

After the fault the store must be exactly as before the write (never between); a retry with the
same idempotency key (or the same decision) must then produce exactly the expected state; and a
second retry must change nothing. Ends with
`faults: N injected, P partial states, D duplicate effects`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shop import faults, gateway, operations, seed
from shop.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
DATA_DIRS = (ROOT / "evals" / "data" / "tau2", ROOT.parent / "shared" / "data" / "tau2")
KILLED = 97  # exit status of a child killed at its checkpoint
# Timestamps differ between two runs of the same write; everything else must be identical.
# Stored outcomes (`response`, `outcome`) may quote a timestamp (a handoff's created_at): they are
# compared separately, as the outcomes the retries return.
VOLATILE_COLUMNS = {"created_at", "decided_at", "at", "response", "outcome"}
IGNORED_TABLES = {"audit_log"}  # append-only by design: failures are logged, not undone


class InjectedFault(RuntimeError):
    """The exception a case raises at its checkpoint."""


@dataclass(frozen=True)
class Call:
    customer_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Write:
    """A valid write and the writes that must happen before it (its task's earlier ones)."""

    source: str
    prefix: tuple[Call, ...]
    call: Call


@dataclass
class Expected:
    """What the write does on a clean copy, found once per write by a fault-free dry run."""

    before: str
    after: str  # after `execute` (for a parked write: the approval exists, nothing else)
    checkpoints: list[str]
    approval_id: int | None = None
    final: str = ""  # after the approval's execution (parked writes only)
    decide_checkpoints: tuple[str, ...] = ()
    tallies: tuple[int, str] = (0, "")


def data_dir() -> Path:
    for path in DATA_DIRS:
        if (path / "gold_replays.jsonl").is_file():
            return path
    raise FileNotFoundError(f"no τ² reference data in {', '.join(map(str, DATA_DIRS))}")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


class Calls:
    """Turns a τ² tool call into a call of our store: the customer is context, not argument."""

    def __init__(self) -> None:
        data = seed.read()
        self.owner = {oid: order["user_id"] for oid, order in data["orders"].items()}

    def make(self, name: str, arguments: dict[str, Any], user: str | None) -> Call | None:
        arguments = dict(arguments)
        customer = arguments.get("user_id") or self.owner.get(arguments.get("order_id", "")) or user
        if name not in operations.WRITES or customer is None:
            return None
        if "user_id" not in operations.WRITES[name].parameters:
            arguments.pop("user_id", None)
        return Call(customer, name, arguments)


def load_writes(directory: Path) -> list[Write]:
    calls = Calls()
    writes: list[Write] = []
    for task in _lines(directory / "gold_replays.jsonl"):
        prefix: list[Call] = []
        user: str | None = None
        for action in task["actions"]:
            if action["name"].startswith("find_user_id") and action["ok"]:
                user = action["output"]
            call = calls.make(action["name"], action["arguments"], user) if action["ok"] else None
            if call is not None:
                writes.append(Write(f"gold task {task['task_id']}", tuple(prefix), call))
                prefix.append(call)
    for probe in _lines(directory / "probe_calls.jsonl"):
        if not probe["ok"] or "db_patch" in probe:
            continue
        setup = [calls.make(s["name"], s["arguments"], None) for s in probe.get("setup", [])]
        call = calls.make(probe["call"]["name"], probe["call"]["arguments"], None)
        if call is not None and None not in setup:
            writes.append(Write(f"probe {probe['probe_id']}", tuple(setup), call))
    return writes


# --- the store on disk -------------------------------------------------------------------------


def digest(path: Path) -> str:
    """Every row of every table but the audit log, timestamps left out. SQLite itself renders
    each table as one text (`quote` per value), so Python never touches a row: fast."""
    hasher = hashlib.sha256()
    with sqlite3.connect(path) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
        for (table,) in tables:
            if table in IGNORED_TABLES:
                continue
            columns = [
                f'quote("{row[1]}")'
                for row in connection.execute(f'PRAGMA table_info("{table}")')
                if row[1] not in VOLATILE_COLUMNS
            ]
            row = " || ',' || ".join(columns)
            query = (
                f"SELECT group_concat(r, char(10)) FROM "
                f'(SELECT {row} AS r FROM "{table}" ORDER BY rowid)'
            )
            hasher.update(table.encode())
            hasher.update((connection.execute(query).fetchone()[0] or "").encode())
    connection.close()
    return hasher.hexdigest()


def tallies(path: Path) -> tuple[int, str]:
    """What a duplicated effect would inflate: payment-history rows and gift-card money."""
    with sqlite3.connect(path) as connection:
        entries = connection.execute("SELECT COUNT(*) FROM payments").fetchone()[0]
        balances = connection.execute(
            "SELECT COALESCE(SUM(balance), 0) FROM payment_methods WHERE source = 'gift_card'"
        ).fetchone()[0]
    connection.close()
    return entries, str(balances)


@cache
def _engine(path: Path) -> Engine:
    """One engine per file name for the whole run: its compiled-statement cache is most of the
    speed. Callers dispose its connections before the file under it is replaced."""
    return make_engine(f"sqlite:///{path}")


def granted(
    engine: Engine,
    customer_id: str | None,
    name: str,
    arguments: dict[str, Any],
    key: str | None = None,
) -> gateway.Outcome:
    """Execute through the gateway, granting a parked approval at once: the benchmark has no
    approval gate (the gate has its own tests). A fresh key unless `key` is given."""
    outcome = gateway.execute(
        engine,
        customer_id=customer_id,
        action=name,
        arguments=arguments,
        idempotency_key=key or f"eval-{uuid.uuid4().hex}",
        actor="system:eval",
    )
    if outcome.status != "pending_approval" or outcome.approval_id is None:
        return outcome
    return gateway.decide(
        engine, outcome.approval_id, approve=True, staff="eval", note="granted by the evaluation"
    )


def _execute(engine: Engine, call: Call, key: str) -> gateway.Outcome:
    return gateway.execute(
        engine,
        customer_id=call.customer_id,
        action=call.name,
        arguments=call.arguments,
        idempotency_key=key,
        actor="system:eval",
    )


def _decide(engine: Engine, approval_id: int) -> gateway.Outcome:
    return gateway.decide(engine, approval_id, approve=True, staff="eval", note="fault case")


class Lab:
    """A seeded template database, copied per case."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.template = workdir / "template.db"
        engine = _engine(self.template)
        seed.seed(engine)
        engine.dispose()  # closes the last connection: the WAL is folded into the file

    def fresh(self, write: Write) -> Path:
        """A copy of the template with the write's prefix applied."""
        path = self.workdir / "case.db"
        _engine(path).dispose()  # no connection may outlive the file it points into
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, path)
        if write.prefix:
            engine = _engine(path)
            for n, call in enumerate(write.prefix):
                outcome = granted(engine, call.customer_id, call.name, call.arguments, f"p{n}")
                if outcome.status != "ok":
                    raise RuntimeError(f"{write.source}: prefix {call.name} failed: {outcome}")
            engine.dispose()
        return path


def _recording(into: list[str]) -> Callable[[str], None]:
    return into.append


def dry_run(lab: Lab, write: Write) -> Expected | None:
    """The write without faults: its checkpoints and the states it leads to (None if invalid)."""
    path = lab.fresh(write)
    before = digest(path)
    engine = _engine(path)
    seen: list[str] = []
    with faults.inject(_recording(seen)):
        outcome = _execute(engine, write.call, "case")
    if outcome.status == "error":
        engine.dispose()
        return None
    expected = Expected(before=before, after=digest(path), checkpoints=seen)
    if outcome.status == "pending_approval":
        decided: list[str] = []
        with faults.inject(_recording(decided)):
            final = _decide(engine, outcome.approval_id)
        if final.status != "ok":
            engine.dispose()
            return None
        expected.approval_id = outcome.approval_id
        expected.decide_checkpoints = tuple(decided)
        expected.final = digest(path)
    engine.dispose()
    expected.tallies = tallies(path)
    return expected


# --- one case ----------------------------------------------------------------------------------


def _kill_at(checkpoint: str) -> Callable[[str], None]:
    def injector(name: str) -> None:
        if name == checkpoint:
            os._exit(KILLED)

    return injector


def _faulted(path: Path, run: Callable[[Engine], object], kind: str, checkpoint: str) -> bool:
    """Run `run` with the fault; True if the fault fired."""
    if kind == "kill":
        pid = os.fork()
        if pid == 0:  # the child: no connection shared with the parent (it holds none now)
            engine = _engine(path)
            engine.dispose(close=False)
            with faults.inject(_kill_at(checkpoint)):
                run(engine)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == KILLED
    fired: list[str] = []

    def injector(name: str) -> None:
        if name == checkpoint:
            fired.append(name)
            raise InjectedFault(f"injected at {checkpoint}")

    engine = _engine(path)
    with faults.inject(injector):
        run(engine)
    engine.dispose()
    return bool(fired)


@dataclass
class Verdict:
    fired: bool
    partial: bool
    duplicate: bool
    incomplete: bool


def run_case(lab: Lab, write: Write, expected: Expected, rng: random.Random, kill_share: float):
    path = lab.fresh(write)
    kind = "kill" if rng.random() < kill_share else "raise"
    in_decision = expected.approval_id is not None and rng.random() < 0.5
    if in_decision:  # park the write first, fault-free, then fault the decision
        engine = _engine(path)
        _execute(engine, write.call, "case")
        engine.dispose()
        checkpoint = rng.choice(expected.decide_checkpoints)
        before, after = expected.after, expected.final

        def run(engine: Engine) -> gateway.Outcome:
            return _decide(engine, expected.approval_id)
    else:
        checkpoint = rng.choice(expected.checkpoints)
        before, after = expected.before, expected.after

        def run(engine: Engine) -> gateway.Outcome:
            return _execute(engine, write.call, "case")

    fired = _faulted(path, run, kind, checkpoint)
    state = digest(path)
    partial = state not in (before, after)
    engine = _engine(path)
    retried = run(engine)  # the retry: same key, or the same decision taken again
    completed = digest(path) == after and retried.status != "error"
    replayed = run(engine)  # and once more: must change nothing
    engine.dispose()
    if in_decision:  # a decision taken twice is refused the second time
        completed = completed and replayed.error is not None
    else:
        completed = completed and replayed.replayed and replayed.result == retried.result
    again = digest(path)
    if expected.approval_id is not None and not in_decision:
        engine = _engine(path)
        _decide(engine, expected.approval_id)
        engine.dispose()
        again = digest(path)
        completed = completed and again == expected.final
    final = expected.final or expected.after
    entries, balances = tallies(path)
    # A second effect adds payment-history entries or credits a gift card again.
    duplicate = entries > expected.tallies[0] or Decimal(balances) > Decimal(expected.tallies[1])
    return Verdict(fired, partial, duplicate, not completed or again != final), kind, checkpoint


# --- the benchmark -----------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals faults")
    parser.add_argument("--n", type=int, default=1000, help="fault injections (default 1000)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--kill-share", type=float, default=0.1, help="share of process kills")
    args = parser.parse_args(argv)
    # Every injected fault is logged with its traceback by the gateway; a thousand are noise here.
    logging.getLogger("shop.gateway").setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    # In memory when the machine has it: SQLite fsyncs every commit, and a disk makes that the cost.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="faults-", dir=shm) as workdir:
        lab = Lab(Path(workdir))
        writes = load_writes(data_dir())
        expectations: dict[int, Expected | None] = {}
        counts: Counter[str] = Counter()
        failures: list[str] = []
        case = 0
        while counts["injected"] + counts["not fired"] < args.n:
            case += 1
            index = rng.randrange(len(writes))
            if index not in expectations:
                expectations[index] = dry_run(lab, writes[index])
            expected = expectations[index]
            if expected is None:
                counts["drawn but invalid from this state (skipped)"] += 1
                continue
            verdict, kind, checkpoint = run_case(lab, writes[index], expected, rng, args.kill_share)
            counts["injected" if verdict.fired else "not fired"] += 1
            counts[kind] += 1
            counts["partial"] += verdict.partial
            counts["duplicate"] += verdict.duplicate
            counts["incomplete"] += verdict.incomplete
            counts[f"checkpoint {checkpoint.split('.')[0]}"] += 1
            if case % 100 == 0:
                print(f"  ... {case} cases", file=sys.stderr, flush=True)
            if verdict.partial or verdict.duplicate or verdict.incomplete or not verdict.fired:
                source = writes[index].source
                failures.append(f"case {case}: {source} {kind}@{checkpoint} {verdict}")
    elapsed = time.perf_counter() - started
    valid = sum(1 for e in expectations.values() if e is not None)
    print(f"writes in the pool: {len(writes)} ({valid} of the {len(expectations)} drawn are valid)")
    for name, count in sorted(counts.items()):
        print(f"  {name}: {count}")
    for failure in failures[:20]:
        print("  FAIL", failure)
    print(f"elapsed: {elapsed:.1f} s ({elapsed / max(case, 1) * 1000:.0f} ms per case)")
    print(
        f"faults: {counts['injected']} injected, {counts['partial']} partial states, "
        f"{counts['duplicate']} duplicate effects"
    )
    return 1 if failures else 0
