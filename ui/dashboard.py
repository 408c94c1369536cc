"""The operations dashboard: how the assistant is doing, over time, from `ui.metrics` rows
(one per chat turn) plus the approvals and handoffs waiting for staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import gradio as gr
import pandas as pd
from sqlalchemy import Engine

import settings
from shop import approvals, handoffs
from shop.db import transaction
from ui.metrics import TurnLog


class Window(NamedTuple):
    span: timedelta
    bucket: str  # a pandas frequency
    label: str  # how a bucket's start is written on the time axis (UTC)


# Every window has 12 to 30 buckets, each labelled as briefly as it can be.
WINDOWS = {
    "last hour": Window(timedelta(hours=1), "5min", "%H:%M"),
    "last 24 hours": Window(timedelta(hours=24), "1h", "%H:%M"),
    "last 7 days": Window(timedelta(days=7), "6h", "%a %H:%M"),
    "last 30 days": Window(timedelta(days=30), "1D", "%b %d"),
}
DEFAULT_WINDOW = "last 24 hours"
RESOLVED = {"answered", "confirmation"}  # the assistant finished the job alone
INTERVENTIONS = {"approval", "handoff"}  # a person had to act
OUTCOME_COLOURS = {  # greens: the assistant alone; ambers: staff acted; reds: nobody helped
    "answered": "#2e7d32",
    "confirmation": "#81c784",
    "approval": "#f9a825",
    "handoff": "#ef6c00",
    "refused": "#c62828",
    "failed": "#5d4037",
}
SHARES = {  # the shares plot's series -> the outcomes each counts
    "resolved by the assistant": RESOLVED,
    "needed staff": INTERVENTIONS,
    "refused or failed": {"refused", "failed"},
}
SHARE_COLOURS = dict(zip(SHARES, ("#2e7d32", "#ef6c00", "#c62828"), strict=True))
PLOTS = ("turns", "shares", "trips", "failures", "latency", "calls", "tokens", "cost")
POINTS = ("latency", "cost")  # statistics, drawn as points; the rest are bars
HEADROOM = 1.15  # above the highest point: the plots clip, and would cut it in half


def cost_per_1k_tokens() -> float:
    """The price of model tokens; the offline backend costs nothing."""
    config = settings.get()
    return float(config.model_cost_per_1k_tokens) if config.uses_openai else 0.0


def window_of(choice: str) -> Window:
    return WINDOWS.get(choice, WINDOWS[DEFAULT_WINDOW])


def turns_frame(log: TurnLog, window: str, now: datetime | None = None) -> pd.DataFrame:
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
        for r in log.since(bucket_starts(window, now)[0].to_pydatetime())
    ]
    columns = ["at", "latency_ms", "outcome", "trips", "failure", "model_calls", "tokens"]
    frame = pd.DataFrame(rows, columns=columns)
    # Typed even when empty: an empty window still draws its axis.
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame.astype({"latency_ms": float, "model_calls": int, "tokens": int})


def bucket_starts(window: str, now: datetime | None = None) -> pd.DatetimeIndex:
    """The window's buckets, oldest first, the current (partial) one last: whole buckets, so
    every label on the time axis (a time of day, a weekday) is met once."""
    span, bucket, _ = window_of(window)
    end = pd.Timestamp(now or datetime.now(UTC)).floor(bucket)
    return pd.date_range(end=end, periods=span // pd.Timedelta(bucket), freq=bucket)


def series(
    turns: pd.DataFrame, window: str, now: datetime | None = None
) -> dict[str, pd.DataFrame]:
    """Every plot's data, in long form (time, value, series) for the time plots.

    The time axis is categorical, one labelled band per bucket, because a line through a
    single point draws nothing and a bar on a continuous time axis is a hairline at its edge:
    a fresh install's few turns all fall in one bucket. Counts and sums are bars over every
    bucket of the window (zeros included, so the axis spans the whole window); statistics
    (percentiles, cost) are points, only where there were turns."""
    starts = bucket_starts(window, now)
    grouped = turns.groupby(turns["at"].dt.floor(window_of(window).bucket))
    counts = (
        grouped["outcome"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(index=starts, columns=list(OUTCOME_COLOURS), fill_value=0)
    )
    total = counts.sum(axis=1)
    busy = total.where(total > 0)  # NaN for an empty bucket: no share, no percentile
    tokens = grouped["tokens"].sum().reindex(starts, fill_value=0)
    frames = {
        "turns": counts,
        "shares": pd.DataFrame(
            {name: counts[list(kept)].sum(axis=1) / busy for name, kept in SHARES.items()}
        ),
        "latency": pd.DataFrame(
            {
                "p50": grouped["latency_ms"].quantile(0.5).reindex(starts),
                "p95": grouped["latency_ms"].quantile(0.95).reindex(starts),
            }
        ),
        "calls": pd.DataFrame({"model calls": grouped["model_calls"].sum()}).reindex(
            starts, fill_value=0
        ),
        "tokens": pd.DataFrame({"tokens": tokens}),
        "cost": pd.DataFrame(
            {"estimated cost": (tokens / 1000 * cost_per_1k_tokens()).where(total > 0)}
        ),
    }
    labels = starts.strftime(window_of(window).label)
    data = {name: _long(frame.set_axis(labels)) for name, frame in frames.items()}
    trips = turns.explode("trips").dropna(subset=["trips"])["trips"].value_counts()
    failures = turns["failure"].dropna().value_counts()
    return data | {
        "trips": trips.rename_axis("kind").reset_index(name="count"),
        "failures": failures.rename_axis("kind").reset_index(name="count"),
    }


def _long(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of per-bucket figures as (time, series, value) rows, bucket by bucket: the
    plots keep the data's order along a categorical axis."""
    stacked = frame.rename_axis(index="time", columns="series").stack(future_stack=True)
    return stacked.astype(float).rename("value").reset_index()


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


def _plots() -> dict[str, Any]:
    """The plot components, in `PLOTS` order, two to a row. Every y axis starts at zero: a
    bar over a one-value axis that does not would have no height."""
    from_zero = {"y": "value", "y_lim": [0, None], "y_axis_format": ",~f"}
    timed = from_zero | {"x": "time", "color": "series", "x_title": "time (UTC)"}
    timed["x_label_angle"] = -45  # up to 30 bucket labels side by side
    kinds = from_zero | {"x": "kind", "y": "count"}
    plots = {
        "turns": lambda: gr.BarPlot(
            **timed, y_title="turns", color_map=OUTCOME_COLOURS, title="Turns by outcome"
        ),
        "shares": lambda: gr.BarPlot(
            **timed | {"y_lim": [0, 1], "y_axis_format": ".0%"},
            y_title="share of the turns",
            color_map=SHARE_COLOURS,
            title="Resolution and intervention rates",
        ),
        "trips": lambda: gr.BarPlot(**kinds, title="Guardrail and budget trips by kind"),
        "failures": lambda: gr.BarPlot(**kinds, title="Failure modes"),
        "latency": lambda: gr.ScatterPlot(**timed, y_title="ms", title="Turn latency, p50 and p95"),
        "calls": lambda: gr.BarPlot(**timed, y_title="calls", title="Model calls"),
        "tokens": lambda: gr.BarPlot(**timed, y_title="tokens", title="Tokens"),
        "cost": lambda: gr.ScatterPlot(
            **timed,
            y_title="US$",
            title="Estimated model cost",
            caption=f"At ${cost_per_1k_tokens():g} per 1,000 tokens (the offline backend is free).",
        ),
    }
    made = {}
    for pair in zip(PLOTS[::2], PLOTS[1::2], strict=True):
        with gr.Row():
            for name in pair:
                made[name] = plots[name]()
                made[name].elem_id = f"plot-{name}"  # for the browser tests' look at the marks
    return made


def _shown(name: str, frame: pd.DataFrame, labels: list[str]) -> Any:
    """A plot's new data; a time plot's buckets in time order (a categorical axis would sort
    them as text)."""
    if "time" not in frame:
        return frame
    top = frame["value"].max()
    if name in POINTS and top > 0:
        return gr.update(value=frame, sort=labels, y_lim=[0, top * HEADROOM])
    return gr.update(value=frame, sort=labels)


def build(engine: Engine) -> tuple[Any, list[Any], list[Any]]:
    """The tab, inside the console's `gr.Tabs`; returns (fn, inputs, outputs) to run on load."""
    log = TurnLog(engine)
    with gr.Tab("Operations", id="operations"):
        with gr.Row():
            window = gr.Dropdown(list(WINDOWS), value=DEFAULT_WINDOW, label="Window", scale=1)
            refresh = gr.Button("Refresh", size="sm", scale=0)
        text = gr.Markdown()
        plots = _plots()

        def refreshed(choice: str) -> tuple[Any, ...]:
            now = datetime.now(UTC)
            turns = turns_frame(log, choice, now)
            data = series(turns, choice, now)
            labels = list(bucket_starts(choice, now).strftime(window_of(choice).label))
            shown = [_shown(name, data[name], labels) for name in PLOTS]
            return summary(engine, turns, choice), *shown

        outputs = [text, *plots.values()]
        gr.on([refresh.click, window.change], refreshed, window, outputs, api_name="dashboard")
        # Keep fresh while someone watches; `build`'s caller also loads it when the page opens.
        gr.Timer(60).tick(refreshed, window, outputs, api_visibility="private")
    return refreshed, [window], outputs
