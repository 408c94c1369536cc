"""The specialist agents: prose from `config/*.yaml`, least-privilege tools, hard limits.

`Specialists.run(step, context)` runs one step with the agent the step names and returns the
typed `StepReport` plus the tool results it saw (the flow grounds replies and remembers context
from them). Agents are built per step because their tools are bound to the conversation's
customer and confirmation; the models (LLM objects) are shared.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from crewai import Agent
from pydantic import BaseModel, Field

from crew import llm as backends
from crew.backends.planner import ToolFailed, parse_result
from crew.plan import Step, StepReport, ToolCall, report_from_text
from crew.tools.context import ToolContext

CONFIG = Path(__file__).parent / "config"

READS = ("get_user_details", "get_order_details", "get_product_details")
# Least privilege: each agent holds only the tools its job needs.
AGENT_TOOLS: dict[str, tuple[str, ...]] = {
    "orders": (
        *READS,
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
    ),
    "returns": (*READS, "return_delivered_order_items", "exchange_delivered_order_items"),
    "recommendations": (*READS, "list_all_product_types"),
    "policy": (),
}
WRITE_TOOLS = frozenset(
    name for tools in AGENT_TOOLS.values() for name in tools if name not in READS
) - {"list_all_product_types"}

MAX_ITER = 8  # a step needs at most ~5 model calls; more means a loop
MAX_EXECUTION_SECONDS = 30  # the per-turn wall-time budget (DESIGN.md)
MAX_RPM = 120  # per agent; protects a paid provider from a runaway loop


@cache
def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIG / name).read_text(encoding="utf-8"))


def quiet_console() -> None:
    """CrewAI prints Rich panels for every agent and flow unless told not to (PITFALLS.md)."""
    from crewai.events.event_listener import event_listener

    event_listener.formatter.console.quiet = True
    event_listener.formatter.verbose = False


class Observation(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None  # the error kind when the tool refused


class AgentRun(BaseModel):
    report: StepReport
    observations: list[Observation] = Field(default_factory=list)
    model_calls: int = 0


def observations(messages: list[dict[str, Any]]) -> list[Observation]:
    """Every tool call of the run with its parsed result, in order."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    seen: list[Observation] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            arguments = function.get("arguments") or "{}"
            try:
                parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
            except ValueError:
                parsed = {}
            calls[call.get("id", "")] = (function.get("name", ""), parsed)
        if message.get("role") == "tool" and message.get("tool_call_id") in calls:
            name, arguments = calls[message["tool_call_id"]]
            try:
                seen.append(
                    Observation(
                        tool=name,
                        arguments=arguments,
                        result=parse_result(name, message.get("content")),
                    )
                )
            except ToolFailed as failed:
                seen.append(
                    Observation(
                        tool=name, arguments=arguments, error=failed.kind, result=failed.message
                    )
                )
    return seen


def _refused_write(seen: list[Observation]) -> ToolCall | None:
    """A write the model tried without confirmation: the proposal it meant to make."""
    for observation in reversed(seen):
        if observation.tool in WRITE_TOOLS and observation.error == "confirmation_required":
            return ToolCall(tool=observation.tool, arguments=observation.arguments)
    return None


class Specialists:
    def __init__(self) -> None:
        self._llms: dict[str, Any] = {}
        quiet_console()

    def llm(self, layer: str):
        if layer not in self._llms:
            self._llms[layer] = backends.llm_for(layer)
        return self._llms[layer]

    def agent(self, step: Step, context: ToolContext) -> Agent:
        names = [n for n in AGENT_TOOLS[step.agent] if not step.tools or n in step.tools]
        tools = []
        if names:
            from crew.tools import build_tools

            tools = build_tools(context, names)
        return Agent(
            **_yaml("agents.yaml")[step.agent],
            llm=self.llm(step.agent),
            tools=tools,
            max_iter=MAX_ITER,
            max_execution_time=MAX_EXECUTION_SECONDS,
            max_rpm=MAX_RPM,
            verbose=False,
            allow_delegation=False,
        )

    def prompt(self, step: Step, passages: str = "") -> str:
        task = _yaml("tasks.yaml")["step"]
        description = task["description"].format(step=step.to_prompt(), passages=passages)
        return f"{description}\n\nExpected output: {task['expected_output'].format()}"

    def run(self, step: Step, context: ToolContext, passages: str = "") -> AgentRun:
        output = self.agent(step, context).kickoff(self.prompt(step, passages))
        seen = observations(list(output.messages))
        report = report_from_text(output.raw)
        if report.proposal is None and step.kind != "execute":
            report.proposal = _refused_write(seen)
        return AgentRun(report=report, observations=seen)
