"""Operations dashboard (placeholder until per-turn metrics are persisted)."""

from __future__ import annotations

import gradio as gr
from sqlalchemy import Engine


def build(engine: Engine) -> None:
    with gr.Tab("Operations", id="operations"):
        gr.Markdown("_Operations metrics appear here._")
