"""The offline backend: a CrewAI `BaseLLM` that executes the flow's step deterministically.

It reads the `<step>` the flow put in the agent's task, looks at the tool results already in the
conversation, and answers like a model with native tool calling would: either the next tool
calls, or the final `StepReport` as JSON. Replies are written from tool results and passages
only (`crew.replies`). Every call emits CrewAI's LLM events, so it shows up as an LLM span.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import llm_call_context
from pydantic import BaseModel

from crew.backends import planner, recommend  # noqa: F401  (registers the recommend strategy)
from crew.backends.base import ToolCallingLLM
from crew.backends.planner import Lookup, results_key
from crew.backends.usage import meter
from crew.plan import StepReport, ToolCall, step_from_text

OFFLINE_MODEL = "offline-planner"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def task_text(messages: str | list[dict[str, Any]]) -> str:
    """Everything the user side of the conversation said (the task prompt holds the step)."""
    if isinstance(messages, str):
        return messages
    return "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")


def tool_results(messages: str | list[dict[str, Any]]) -> dict[str, Any]:
    """Tool results in the conversation, keyed by the call (tool + arguments) that produced them."""
    if isinstance(messages, str):
        return {}
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    results: dict[str, Any] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            arguments = function.get("arguments") or {}
            if isinstance(arguments, str):
                arguments = json.loads(arguments or "{}")
            calls[call.get("id", "")] = (function.get("name", ""), arguments)
        if message.get("role") == "tool" and message.get("tool_call_id") in calls:
            name, arguments = calls[message["tool_call_id"]]
            results[results_key(name, arguments)] = _text(message.get("content"))
    return results


def tool_parameters(tools: list[dict[str, Any]] | None) -> dict[str, set[str]]:
    found = {}
    for tool in tools or []:
        function = tool.get("function", tool)
        found[function["name"]] = set(function.get("parameters", {}).get("properties", {}))
    return found


def as_tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": c.tool, "arguments": json.dumps(c.arguments)},
        }
        for c in calls
    ]


def decide(messages: str | list[dict[str, Any]], tools: list[dict[str, Any]] | None):
    """The next move for this conversation: tool calls (OpenAI shape) or the report as JSON."""
    step = step_from_text(task_text(messages))
    parameters = tool_parameters(tools)
    move = planner.next_move(step, Lookup(tool_results(messages), parameters))
    if isinstance(move, StepReport):
        return move.model_dump_json(exclude_defaults=True)
    unknown = [c.tool for c in move if c.tool not in parameters]
    if unknown:  # the agent does not hold that tool: say so rather than call it
        return StepReport(reply=planner.say("tool_error"), missing=unknown).model_dump_json()
    return as_tool_calls(move)


def _call_type(answer: Any) -> LLMCallType:
    return LLMCallType.TOOL_CALL if isinstance(answer, list) else LLMCallType.LLM_CALL


class OfflineLLM(ToolCallingLLM):
    """Deterministic, embedded, always available; the product's default voice."""

    provider: str = "offline"

    def __init__(self, **data: Any) -> None:
        data.setdefault("model", OFFLINE_MODEL)  # BaseLLM insists on a model name
        super().__init__(**data)

    def call(
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | list[dict[str, Any]]:
        with llm_call_context():
            meter.charge(messages, backend="offline")
            self._emit_call_started_event(
                messages=messages, tools=tools, from_task=from_task, from_agent=from_agent
            )
            try:
                answer = decide(messages, tools)
            except Exception as exc:
                self._emit_call_failed_event(str(exc), from_task=from_task, from_agent=from_agent)
                raise
            self._emit_call_completed_event(
                response=answer,
                call_type=_call_type(answer),
                from_task=from_task,
                from_agent=from_agent,
                messages=messages,
                usage=meter.usage(messages, answer),
            )
            return answer

    async def acall(self, *args: Any, **kwargs: Any) -> str | list[dict[str, Any]]:
        return self.call(*args, **kwargs)
