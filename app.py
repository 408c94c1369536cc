"""Composition root: `python app.py` sets up and starts everything, then serves until Ctrl-C.

Order: data dir, store (seeded on first run), knowledge base (ingested on first run), Phoenix
(a child process unless PHOENIX_COLLECTOR_ENDPOINT names one; failure only turns tracing off),
tracing, the assistant (warmed up), then the web server on 127.0.0.1 with the chat at `/` and
the staff console at `/staff`. Nothing here holds a business rule: it wires the parts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import settings
import tracing
from phoenix_server import PhoenixServer, PhoenixStartError, port_in_use

log = logging.getLogger("app")


class PortTaken(RuntimeError):
    """The app's own port is in use: nothing can be served."""


@dataclass
class Running:
    """What `start` brought up; `stop` takes it down in reverse order."""

    settings: settings.Settings
    phoenix: PhoenixServer | None = None
    phoenix_url: str | None = None
    tracing_note: str = ""
    staff_password_note: str = ""
    services: dict[str, Any] = field(default_factory=dict)
    web: Any = None

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        tracing.flush(2_000)
        tracing.setup(None)
        if self.phoenix is not None:
            self.phoenix.stop()


def say(message: str) -> None:
    print(message, flush=True)


def launch_phoenix(config: settings.Settings) -> tuple[PhoenixServer | None, str]:
    """Start our Phoenix child without waiting for it (it takes seconds: the store, knowledge
    base and assistant load meanwhile), or (None, why not)."""
    if not config.tracing:
        return None, "tracing off (TRACING=off)"
    if config.phoenix_endpoint:
        return None, f"sending traces to {config.phoenix_endpoint}"
    server = PhoenixServer(config.data_dir / "phoenix", port=config.phoenix_port)
    try:
        return server.launch(), ""
    except PhoenixStartError as error:
        return None, _phoenix_failed(config, error)


def phoenix_ready(
    config: settings.Settings, server: PhoenixServer | None, note: str
) -> tuple[PhoenixServer | None, str | None, str]:
    """(child, collector URL, note) once a launched child answers; tracing off if it fails."""
    if server is None:
        return None, (config.phoenix_endpoint or None) if config.tracing else None, note
    try:
        server.wait_ready()
    except PhoenixStartError as error:
        return None, None, _phoenix_failed(config, error)
    return server, server.url, f"Phoenix started (pid {server.pid})"


def start_phoenix(config: settings.Settings) -> tuple[PhoenixServer | None, str | None, str]:
    """(child, collector URL, note): an existing Phoenix, our child, or tracing off and why."""
    return phoenix_ready(config, *launch_phoenix(config))


def _phoenix_failed(config: settings.Settings, error: Exception) -> str:
    return (
        f"Phoenix did not start ({error}); the app runs with tracing OFF. Free port "
        f"{config.phoenix_port}, set PHOENIX_PORT, or PHOENIX_COLLECTOR_ENDPOINT."
    )


def build_services(config: settings.Settings) -> dict[str, Any]:
    """The store, knowledge base and assistant, each ready (first run: seeded and ingested)."""
    from crew.assistant import Assistant
    from knowledge.seed import ensure_ingested
    from shop.db import default_engine
    from shop.seed import ensure_seeded

    engine = default_engine()
    started = time.perf_counter()
    say("store: seeded the demo store" if ensure_seeded(engine) else "store: ready")
    knowledge = ensure_ingested(engine)
    say(f"knowledge base: {len(knowledge.list_documents())} documents")
    assistant = Assistant.create(engine=engine, warm=True)
    say(f"assistant: warm ({time.perf_counter() - started:.1f} s)")
    return {"engine": engine, "knowledge": knowledge, "assistant": assistant}


def build_web(config: settings.Settings, services: dict[str, Any], password: str):
    from ui import auth, chat, metrics, staff, web

    console = staff.Console(
        engine=services["engine"],
        assistant=services["assistant"],
        knowledge=services["knowledge"],
    )
    pages = web.Pages(
        chat=chat.build(services["assistant"], metrics.TurnLog(services["engine"])),
        staff=staff.build(console),
        staff_login=auth.StaffGate(password).check,
    )
    return web.Server(web.build(pages), config.host, config.port)


def start(config: settings.Settings | None = None) -> Running:
    """Bring everything up; raise `PortTaken` if the app's own port is in use."""
    from ui import auth

    config = config or settings.get()
    if port_in_use(config.host, config.port):
        raise PortTaken(
            f"port {config.port} on {config.host} is already in use (another copy running?). "
            "Stop it or set APP_PORT."
        )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # CrewAI keeps state under ~/.config and ~/.local unless told (PITFALLS.md): keep it ours.
    os.environ.setdefault("CREWAI_STORAGE_DIR", str(config.data_dir / "crewai"))
    if config.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("APP_HOST=%s: the app is reachable beyond this machine", config.host)
    running = Running(settings=config)
    running.phoenix, running.tracing_note = launch_phoenix(config)
    try:
        running.services = build_services(config)
        running.phoenix, running.phoenix_url, running.tracing_note = phoenix_ready(
            config, running.phoenix, running.tracing_note
        )
        tracing.setup(running.phoenix_url, project=config.phoenix_project)
        password = auth.staff_password()
        if password.generated:
            running.staff_password_note = (
                f"staff password (generated once, kept in {config.data_dir}/secrets): "
                f"{password.value}"
            )
        running.web = build_web(config, running.services, password.value).start()
    except BaseException:
        running.stop()
        raise
    return running


def banner(running: Running) -> str:
    url = f"http://{running.settings.host}:{running.settings.port}"
    lines = [
        "",
        f"  customer chat   {url}/",
        f"  staff console   {url}/staff   (user: staff)",
        f"  traces          {running.phoenix_url or 'off'}",
        f"  {running.tracing_note}",
    ]
    if running.staff_password_note:
        lines.append(f"  {running.staff_password_note}")
    lines.append("  Ctrl-C stops everything.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "crewai_core", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        running = start()
    except PortTaken as error:
        say(f"error: {error}")
        return 2
    say(banner(running))
    say(f"  ready in {time.perf_counter() - started:.1f} s")
    wait_for_stop_signal()
    say("\nstopping…")
    running.stop()
    return 0


def wait_for_stop_signal() -> None:
    """Block until Ctrl-C or SIGTERM. Our own handlers, installed last: CrewAI's telemetry
    registers SIGINT/SIGTERM handlers on import that swallow Ctrl-C."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
