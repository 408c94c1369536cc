"""Shared by the UI, app and browser tests: one seeded store and ingested knowledge base per
test session (ingesting embeds every policy passage: seconds on an idle machine, much more on
a busy one), and a helper that serves pages on a free loopback port."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import settings

_ready: dict[str, Any] = {}


def ready_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """{"dir", "engine", "knowledge"}: DATA_DIR is set to it for the rest of the session."""
    if _ready:
        return _ready
    from knowledge.seed import ensure_ingested
    from shop.db import make_engine
    from shop.seed import ensure_seeded

    data: Path = tmp_path_factory.mktemp("ui-data")
    os.environ["DATA_DIR"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ["CHROMA_PATH"] = str(data / "chroma")
    settings.get.cache_clear()
    engine = make_engine(settings.get().database_url)
    ensure_seeded(engine)
    _ready.update(dir=data, engine=engine, knowledge=ensure_ingested(engine))
    return _ready


def ready_assistant(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real assistant (offline backend) over the shared data, warmed once per session."""
    data = ready_data(tmp_path_factory)
    if "assistant" not in data:
        from crew.assistant import Assistant

        data["assistant"] = Assistant.create(engine=data["engine"], warm=True)
    return data["assistant"]


def serve(tmp_path_factory: pytest.TempPathFactory, password: str, **gate: float):
    """The whole web app (real assistant, console, metrics) on a free port: (server, gate)."""
    from phoenix_server import free_port
    from ui import auth, chat, metrics, staff, web

    data = ready_data(tmp_path_factory)
    assistant = ready_assistant(tmp_path_factory)
    engine = data["engine"]
    console = staff.Console(engine=engine, assistant=assistant, knowledge=data["knowledge"])
    door = auth.StaffGate(password, **gate)
    pages = web.Pages(
        chat.build(assistant, metrics.TurnLog(engine)), staff.build(console), door.check
    )
    return web.Server(web.build(pages), "127.0.0.1", free_port()).start(), door
