"""The operations dashboard: how the assistant is doing, over time, from `ui.metrics` rows
(one per chat turn) plus the approvals and handoffs waiting for staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import gradio as gr
import pandas as pd
from sqlalchemy import Engine

import settings
from shop import approvals, handoffs
from shop.db import transaction
from ui.metrics import TurnLog

# Window label -> (length, bucket): buckets stay readable (12 to 60 points) in every window.
WINDOWS = {
    "last hour": (timedelta(hours=1), "5min"),
    "last 24 hours": (timedelta(hours=24), "1h"),
    "last 7 days": (timedelta(days=7), "6h"),
    "last 30 days": (timedelta(days=30), "1D"),
}
DEFAULT_WINDOW = "last 24 hours"
RESOLVED = {"answered", "confirmation"}  # the assistant finished the job alone
INTERVENTIONS = {"approval", "handoff"}  # a person had to act


def cost_per_1k_tokens() -> float:
    """The price of model tokens; the offline backend costs nothing."""
    config = settings.get()
    return float(config.model_cost_per_1k_tokens) if config.uses_openai else 0.0


def turns_frame(log: TurnLog, window: str) -> pd.DataFrame:
    span, _ = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    rows = [
        {
            "at": r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
            "latency_ms": r.latency_ms,
            "outcome": r.outcome,
            "trips": r.trips or [],
            "failure": r.failure,
            "model_calls": r.model_calls,
            "tokens": r.tokens,
        }
        for r in log.since(datetime.now(UTC) - span)
    ]
    columns = ["at", "latency_ms", "outcome", "trips", "failure", "model_calls", "tokens"]
    return pd.DataFrame(rows, columns=columns)


def series(turns: pd.DataFrame, window: str) -> dict[str, pd.DataFrame]:
    """Every plot's data: per-bucket series in long form (time, value, series)."""
    _, bucket = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    empty = pd.DataFrame(
        {
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "value": pd.Series(dtype=float),
            "series": pd.Series(dtype=str),
        }
    )
    if turns.empty:
        kinds = pd.DataFrame({"kind": pd.Series(dtype=str), "count": pd.Series(dtype=int)})
        return dict.fromkeys(("volume", "rates", "latency", "usage", "cost"), empty) | {
            "trips": kinds,
            "failures": kinds,
        }
    grouped = turns.set_index("at").groupby(pd.Grouper(freq=bucket))

    def long(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index().rename(columns={"at": "time"})
        return frame.melt(id_vars="time", var_name="series", value_name="value").dropna()

    count = grouped.size()
    volume = long(pd.DataFrame({"turns": count}))
    rates = long(
        pd.DataFrame(
            {
                "resolution rate": grouped["outcome"].agg(lambda s: s.isin(RESOLVED).mean()),
                "intervention rate": grouped["outcome"].agg(lambda s: s.isin(INTERVENTIONS).mean()),
            }
        )
    )
    latency = long(
        pd.DataFrame(
            {
                "p50 ms": grouped["latency_ms"].quantile(0.5),
                "p95 ms": grouped["latency_ms"].quantile(0.95),
            }
        )
    )
    usage = long(
        pd.DataFrame(
            {
                "model calls": grouped["model_calls"].sum(),
                "tokens (thousands)": grouped["tokens"].sum() / 1000,
            }
        )
    )
    cost = long(
        pd.DataFrame({"estimated cost ($)": grouped["tokens"].sum() / 1000 * cost_per_1k_tokens()})
    )
    trips = turns.explode("trips").dropna(subset=["trips"])["trips"].value_counts()
    failures = turns["failure"].dropna().value_counts()
    return {
        "volume": volume,
        "rates": rates,
        "latency": latency,
        "usage": usage,
        "cost": cost,
        "trips": trips.rename_axis("kind").reset_index(name="count"),
        "failures": failures.rename_axis("kind").reset_index(name="count"),
    }


def summary(engine: Engine, turns: pd.DataFrame, window: str) -> str:
    waiting = len(approvals.list_approvals(engine, status="pending"))
    with transaction(engine) as session:
        tickets = len(handoffs.list_handoffs(session, status="open"))
    head = f"**Now:** {waiting} approvals waiting, {tickets} open handoffs."
    if turns.empty:
        return f"{head}\n\n_No chat turns in the {window}._"
    share = turns["outcome"].isin
    latency = turns["latency_ms"]
    tokens = int(turns["tokens"].sum())
    return (
        f"{head}\n\n**{window.capitalize()}:** {len(turns)} turns; resolved by the assistant "
        f"{share(RESOLVED).mean():.0%}; needed staff {share(INTERVENTIONS).mean():.0%}; "
        f"refused or failed {share({'refused', 'failed'}).mean():.0%}. Latency p50 "
        f"{latency.quantile(0.5):.0f} ms, p95 {latency.quantile(0.95):.0f} ms. "
        f"{int(turns['model_calls'].sum())} model calls, {tokens:,} tokens, estimated "
        f"${tokens / 1000 * cost_per_1k_tokens():,.2f}."
    )


def build(engine: Engine) -> tuple[Any, list[Any], list[Any]]:
    """The tab, inside the console's `gr.Tabs`; returns (fn, inputs, outputs) to run on load."""
    log = TurnLog(engine)
    with gr.Tab("Operations", id="operations"):
        with gr.Row():
            window = gr.Dropdown(list(WINDOWS), value=DEFAULT_WINDOW, label="Window", scale=1)
            refresh = gr.Button("Refresh", size="sm", scale=0)
        text = gr.Markdown()
        with gr.Row():
            volume = gr.LinePlot(x="time", y="value", color="series", title="Turns")
            rates = gr.LinePlot(
                x="time",
                y="value",
                color="series",
                y_lim=[0, 1],
                title="Resolution and intervention rates",
            )
        with gr.Row():
            trips = gr.BarPlot(x="kind", y="count", title="Guardrail and budget trips by kind")
            failures = gr.BarPlot(x="kind", y="count", title="Failure modes")
        with gr.Row():
            latency = gr.LinePlot(x="time", y="value", color="series", title="Turn latency")
            usage = gr.LinePlot(x="time", y="value", color="series", title="Model calls and tokens")
        cost = gr.LinePlot(x="time", y="value", color="series", title="Estimated model cost")

        def refreshed(choice: str) -> tuple[Any, ...]:
            turns = turns_frame(log, choice)
            data = series(turns, choice)
            return (
                summary(engine, turns, choice),
                data["volume"],
                data["rates"],
                data["trips"],
                data["failures"],
                data["latency"],
                data["usage"],
                data["cost"],
            )

        outputs = [text, volume, rates, trips, failures, latency, usage, cost]
        gr.on([refresh.click, window.change], refreshed, window, outputs, api_name="dashboard")
        # Keep fresh while someone watches; `build`'s caller also loads it when the page opens.
        gr.Timer(60).tick(refreshed, window, outputs, api_visibility="private")
    return refreshed, [window], outputs
