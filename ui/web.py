"""One web server for every door: the chat at `/`, the staff console at `/staff`, `/healthz`.

Each page is its own Gradio app mounted on one FastAPI app, so each has its own queue and API
(`gradio_client.Client(".../staff/", auth=...)`), and only the console sits behind the login.
Limits that Gradio leaves open by default (PITFALLS.md) are closed here: bounded queues, a
concurrency limit per page, an upload size cap, no analytics.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import gradio as gr
import uvicorn
from fastapi import FastAPI

STAFF_PATH = "/staff"
QUEUE_MAX = 256  # waiting events per page; beyond this a visitor is told the queue is full
CONCURRENCY = 24  # events per page running at once (>= 16, the load target)
MAX_UPLOAD = "2mb"  # policy documents are text; nothing bigger belongs in the knowledge base


@dataclass(frozen=True)
class Pages:
    chat: gr.Blocks
    staff: gr.Blocks
    staff_login: Callable[[str, str], Awaitable[bool]]  # ui.auth.StaffGate.check


def build(pages: Pages) -> FastAPI:
    """Mount both pages on a fresh FastAPI app, with their limits."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    common = {"max_file_size": MAX_UPLOAD, "ssr_mode": False, "footer_links": []}
    for blocks in (pages.chat, pages.staff):
        blocks.queue(max_size=QUEUE_MAX, default_concurrency_limit=CONCURRENCY)
    # The more specific path first: Starlette matches mounts in order.
    gr.mount_gradio_app(
        app,
        pages.staff,
        path=STAFF_PATH,
        auth=pages.staff_login,
        auth_message="Staff console: sign in as “staff”.",
        **common,
    )
    gr.mount_gradio_app(app, pages.chat, path="", **common)
    return app


class Server:
    """uvicorn for `app` on host:port; `run()` blocks (Ctrl-C stops it), `start()` threads."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{port}"

    def run(self) -> None:
        self._server.run()

    def start(self, timeout_s: float = 30.0) -> Server:
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="web")
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            if self._server.started:
                return self
            deadline.wait(0.05)
        raise RuntimeError(f"web server did not start on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
