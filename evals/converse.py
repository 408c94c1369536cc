"""`python -m evals converse [FILE.yaml ...] [--out RESULT.json]`: golden conversations, end to end.

Each conversation runs through the whole stack (guardrails, router, flow, agents, tools) with
the offline backend, on a fresh copy of the demo store, and is checked against its expected
replies and final state (format in DESIGN.md). The seeded store and the policy index are built
once and copied per conversation; the router's model is trained once and cached.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

import settings

HERE = Path(__file__).parent
CONVERSATIONS = HERE / "conversations"
SOURCES = ("shop", "knowledge", "crew/intent")  # what the template store depends on


class Turn(BaseModel):
    user: str | None = None
    staff: str | None = None  # "approve" / "reject": decide this conversation's approvals
    note: str = ""
    reply_has: list[str] = Field(default_factory=list)
    reply_lacks: list[str] = Field(default_factory=list)


class Conversation(BaseModel):
    id: str
    sign_in: str | None = None
    turns: list[Turn]
    expect: dict[str, Any] = Field(default_factory=dict)


class Outcome(BaseModel):
    id: str
    replies: list[str] = Field(default_factory=list)
    state: dict[str, Any] = Field(default_factory=dict)
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    handoffs: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and not self.errors


def load(paths: list[Path] | None = None) -> list[Conversation]:
    files = paths or sorted(CONVERSATIONS.glob("*.yaml"))
    found = []
    for path in files:
        found += [Conversation.model_validate(c) for c in yaml.safe_load(path.read_text())]
    return found


def _digest() -> str:
    """Changes when the data, documents or code behind the template store change."""
    digest = hashlib.sha256()
    root = settings.ROOT
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".md", ".json", ".yaml"}:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Harness:
    """Shared services over a seeded template store; a fresh store copy per conversation."""

    def __init__(self, workdir: Path, cache: Path | None = None) -> None:
        from crew.agents import Specialists, quiet_console
        from crew.intent.catalog import Catalog
        from crew.intent.router import Router
        from guardrails import injection_model
        from knowledge.seed import ensure_ingested
        from shop import catalog, export, seed
        from shop.db import create_schema, make_engine, transaction

        quiet_console()
        self.workdir = workdir
        cache = cache or workdir
        template = cache / f"store-{_digest()}"
        os.environ["CHROMA_PATH"] = str(template / "chroma")
        settings.get.cache_clear()
        ready = template / "ready"
        engine = make_engine(f"sqlite:///{template / 'store.db'}")
        if not ready.exists():
            template.mkdir(parents=True, exist_ok=True)
            create_schema(engine)
            seed.ensure_seeded(engine)
            ensure_ingested(engine)
            ready.write_text("ok")
        self.template = template / "store.db"
        self.policies = ensure_ingested(engine)
        with transaction(engine) as session:
            self.products = catalog.products(session)
            self.before = export.snapshot(session)
        engine.dispose()
        self.router = Router.load(Catalog.from_products(self.products), cache_dir=cache / "router")
        # Trained once and cached like the router, so no conversation's turn (and its wall-time
        # budget) pays for training the injection detector.
        injection_model.detector(cache=cache)
        self.specialists = Specialists()
        self.count = 0

    def assistant(self):
        from crew.assistant import Assistant
        from crew.flow import Services
        from shop.db import make_engine

        self.count += 1
        copy = self.workdir / f"conversation-{self.count}.db"
        shutil.copyfile(self.template, copy)
        engine = make_engine(f"sqlite:///{copy}")
        services = Services(
            engine=engine, router=self.router, policies=self.policies, specialists=self.specialists
        )
        return Assistant(services)

    def run(self, conversation: Conversation) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(id=conversation.id)
        assistant = self.assistant()
        try:
            self._play(assistant, conversation, outcome)
            self._record_state(assistant, outcome)
            outcome.failures += check_expect(conversation.expect, outcome)
        except Exception as exc:  # one broken conversation must not hide the others
            outcome.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            assistant.services.engine.dispose()
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _play(self, assistant, conversation: Conversation, outcome: Outcome) -> None:
        conversation_id = assistant.start(customer_id=conversation.sign_in)
        for number, turn in enumerate(conversation.turns, start=1):
            if turn.staff:
                decide_all(
                    assistant, conversation_id, approve=turn.staff == "approve", note=turn.note
                )
                continue
            # One client per conversation, as in the app (each customer has their own address).
            message = turn.user or ""
            reply = assistant.turn(conversation_id, message, client_id=conversation.id).reply
            outcome.replies.append(reply)
            lowered = reply.lower()
            for wanted in turn.reply_has:
                if wanted.lower() not in lowered:
                    outcome.failures.append(f"turn {number}: reply lacks {wanted!r}: {reply!r}")
            for unwanted in turn.reply_lacks:
                if unwanted.lower() in lowered:
                    outcome.failures.append(f"turn {number}: reply has {unwanted!r}: {reply!r}")

    def _record_state(self, assistant, outcome: Outcome) -> None:
        from shop import export
        from shop.approvals import list_approvals
        from shop.db import transaction
        from shop.handoffs import list_handoffs

        engine = assistant.services.engine
        with transaction(engine) as session:
            outcome.state = {"changed": export.changed(self.before, export.snapshot(session))}
            outcome.handoffs = list(list_handoffs(session))
        outcome.approvals = [a.model_dump(mode="json") for a in list_approvals(engine)]


def decide_all(assistant, conversation_id: str, *, approve: bool, note: str) -> None:
    """What staff do in the console: decide every pending approval of the conversation."""
    from shop import gateway
    from shop.approvals import approvals_for_conversation

    engine = assistant.services.engine
    for approval in approvals_for_conversation(engine, conversation_id):
        if approval.status == "pending":
            gateway.decide(engine, approval.id, approve=approve, staff="eval", note=note)


def check_expect(expect: dict[str, Any], outcome: Outcome) -> list[str]:
    failures = []
    changed = outcome.state.get("changed", {})
    for kind in ("orders", "users"):
        for key, fields in (expect.get(kind) or {}).items():
            record = changed.get(kind, {}).get(key)
            if fields == "unchanged":
                if record is not None:
                    failures.append(f"{kind} {key} changed but should not have")
                continue
            if record is None:
                failures.append(f"{kind} {key} did not change")
                continue
            for field, value in fields.items():
                if record.get(field) != value:
                    failures.append(f"{kind} {key}.{field} = {record.get(field)!r}, not {value!r}")
    if "changed" in expect:
        count = sum(len(v) for v in changed.values())
        if count != expect["changed"]:
            failures.append(f"{count} records changed, expected {expect['changed']}")
    pending = sum(1 for a in outcome.approvals if a["status"] == "pending")
    if "approvals_pending" in expect and pending != expect["approvals_pending"]:
        failures.append(f"{pending} approvals pending, expected {expect['approvals_pending']}")
    if "handoffs" in expect and len(outcome.handoffs) != expect["handoffs"]:
        failures.append(f"{len(outcome.handoffs)} handoffs, expected {expect['handoffs']}")
    return failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals converse")
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    conversations = load(args.files or None)
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.setdefault("DATA_DIR", workdir)
        settings.get.cache_clear()
        cache = settings.get().data_dir / "cache" / "converse"
        harness = Harness(Path(workdir), cache)
        outcomes = [harness.run(c) for c in conversations]
    for outcome in outcomes:
        mark = "ok  " if outcome.passed else "FAIL"
        print(f"{mark} {outcome.id} ({outcome.seconds:.2f} s)")
        for problem in outcome.errors + outcome.failures:
            print(f"     {problem}")
    if args.out:
        args.out.write_text(json.dumps([o.model_dump() for o in outcomes], indent=2, default=str))
    passed = sum(o.passed for o in outcomes)
    turns = sum(len(o.replies) for o in outcomes)
    print(f"converse: {passed}/{len(outcomes)} conversations passed, {turns} turns")
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
