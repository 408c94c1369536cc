"""`python -m evals economy`: model calls per turn and prompt size per call, layered vs one agent.

Layered: the product as built (router and flow in code, small specialist agents with a few tools
and only the retrieved passages). Baseline, built only here: one agent that holds every tool and
the whole policy corpus in its prompt and runs every step. Both replay the golden conversations
with the offline backend, which makes the same tool calls either way, so the difference is the
prompt each call carries (and the calls the flow saves by answering in code).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from crewai import Agent

import settings
from crew.agents import AGENT_TOOLS, MAX_EXECUTION_SECONDS, MAX_ITER, Specialists, _yaml
from crew.plan import Step
from crew.tools.context import ToolContext
from evals.converse import Harness, load

ALL_TOOLS = tuple(dict.fromkeys(t for tools in AGENT_TOOLS.values() for t in tools))


class OneAgent(Specialists):
    """The "god agent": every tool, every agent's brief and every policy document, every call."""

    def __init__(self, corpus: str) -> None:
        super().__init__()
        self.corpus = corpus

    def agent(self, step: Step, context: ToolContext) -> Agent:
        from crew.tools import build_tools

        briefs = _yaml("agents.yaml")
        backstory = "\n\n".join(b["backstory"] for b in briefs.values())
        return Agent(
            role="Customer service agent",
            goal=" ".join(b["goal"] for b in briefs.values()),
            backstory=f"{backstory}\n\nSTORE POLICY (all documents):\n{self.corpus}",
            llm=self.llm("baseline"),
            tools=build_tools(context, list(ALL_TOOLS)),
            max_iter=MAX_ITER,
            max_execution_time=MAX_EXECUTION_SECONDS,
            verbose=False,
        )


def _corpus() -> str:
    from knowledge.seed import POLICIES_DIR

    return "\n\n".join(p.read_text() for p in sorted(POLICIES_DIR.glob("*.md")))


def replay(harness: Harness, conversations) -> tuple[list[int], list[int]]:
    """(model calls per turn, prompt characters per call)."""
    calls, chars = [], []
    for conversation in conversations:
        assistant = harness.assistant()
        conversation_id = assistant.start(customer_id=conversation.sign_in)
        for turn in conversation.turns:
            if turn.user:
                usage = assistant.turn(conversation_id, turn.user, client_id=conversation.id).usage
                calls.append(usage.model_calls)
                chars += usage.prompt_chars
        assistant.services.engine.dispose()
    return calls, chars


def main(argv: list[str]) -> int:
    conversations = load([Path(a) for a in argv] or None)
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.setdefault("DATA_DIR", workdir)
        settings.get.cache_clear()
        harness = Harness(Path(workdir), settings.get().data_dir / "cache" / "converse")
        layered = replay(harness, conversations)
        harness.specialists = OneAgent(_corpus())
        baseline = replay(harness, conversations)
    rows = {}
    for name, (calls, chars) in (("layered", layered), ("one-agent", baseline)):
        rows[name] = (statistics.mean(calls), statistics.median(chars), sum(chars) / len(calls))
        print(
            f"  {name:10s} model calls/turn {rows[name][0]:.2f}   prompt chars/call median "
            f"{rows[name][1]:,.0f}   prompt chars/turn {rows[name][2]:,.0f}"
        )
    ratio = rows["one-agent"][2] / rows["layered"][2]
    print(
        f"economy: layered {rows['layered'][0]:.2f} calls/turn, {rows['layered'][1]:,.0f} "
        f"chars/call; one-agent {rows['one-agent'][0]:.2f} calls/turn, "
        f"{rows['one-agent'][1]:,.0f} chars/call; {ratio:.1f}x prompt per turn"
    )
    return 0
