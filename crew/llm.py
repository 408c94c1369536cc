"""Which model each layer talks to: an OpenAI-compatible server when one is configured
(`OPENAI_API_KEY` or `OPENAI_BASE_URL`), else the embedded offline backend.

Layers are the agents' names ("orders", "returns", "recommendations", "policy"); each may use
its own model (`OPENAI_MODELS="policy=gpt-4o-mini,orders=gpt-4o"`, default `OPENAI_MODEL`).
All layers share the process's provider breaker (`OpenAICompatLLM`'s default).
"""

from __future__ import annotations

from crewai.llms.base_llm import BaseLLM

import settings
from crew.backends.offline import OfflineLLM
from crew.backends.openai_compat import OpenAICompatLLM


def model_for(layer: str, config: settings.Settings | None = None) -> str:
    config = config or settings.get()
    return dict(config.openai_models).get(layer, config.openai_model)


def llm_for(layer: str, config: settings.Settings | None = None) -> BaseLLM:
    config = config or settings.get()
    if not config.uses_openai:
        return OfflineLLM()
    return OpenAICompatLLM(
        model=model_for(layer, config),
        api_key=config.openai_api_key or None,
        base_url=config.openai_base_url or None,
        timeout=config.openai_timeout,
        max_retries=config.openai_max_retries,
        temperature=0.0,
    )


def backend_name(config: settings.Settings | None = None) -> str:
    config = config or settings.get()
    return "openai" if config.uses_openai else "offline"
