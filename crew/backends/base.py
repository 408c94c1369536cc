"""What both model backends promise CrewAI: native tool calls, no stop words, a large context,
and token counts from the same estimate the budgets use."""

from __future__ import annotations

from crewai.llms.base_llm import BaseLLM

from crew.backends.usage import meter


class ToolCallingLLM(BaseLLM):
    def supports_function_calling(self) -> bool:
        return True

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return meter.estimate_tokens(messages)
