"""The operations dashboard's data: every plot has something to draw however few the turns
(a fresh install's all fall in one bucket), on a time axis that spans the whole window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from ui import dashboard

NOW = datetime(2026, 11, 24, 2, 10, tzinfo=UTC)
BARS = ["turns", "shares", "calls", "tokens"]
POINTS = ["latency", "cost"]
TIME_PLOTS = BARS + POINTS


class Log:
    """TurnLog's read side over fixed rows."""

    def __init__(self, *rows: SimpleNamespace) -> None:
        self.rows = rows

    def since(self, start: datetime) -> list[SimpleNamespace]:
        return [row for row in self.rows if row.at >= start]


def turn(minutes_ago: float, outcome: str = "answered", **fields) -> SimpleNamespace:
    row = {"latency_ms": 200.0, "trips": [], "failure": None, "model_calls": 2, "tokens": 300}
    return SimpleNamespace(at=NOW - timedelta(minutes=minutes_ago), outcome=outcome, **row | fields)


def plotted(window: str, *rows: SimpleNamespace) -> dict:
    return dashboard.series(dashboard.turns_frame(Log(*rows), window, NOW), window, NOW)


def test_turns_in_one_bucket_draw_a_mark_on_every_time_plot():
    data = plotted(
        "last 24 hours",
        turn(1),
        turn(2, "approval", latency_ms=900.0),
        turn(3, "refused", trips=["injection"], model_calls=0, tokens=0),
    )
    for name in BARS:  # a bar with a height, in the one bucket only
        assert set(data[name].query("value > 0")["time"]) == {"02:00"}, name
    for name in POINTS:  # a point (cost: $0 offline), in the one bucket only
        assert set(data[name].dropna()["time"]) == {"02:00"}, name
    turns = data["turns"].set_index("series")["value"]
    assert (turns["answered"].sum(), turns["approval"].sum(), turns["refused"].sum()) == (1, 1, 1)
    shares = data["shares"].dropna().set_index("series")["value"]
    assert shares.to_dict() == pytest.approx(
        {"resolved by the assistant": 1 / 3, "needed staff": 1 / 3, "refused or failed": 1 / 3}
    )
    assert data["calls"]["value"].sum() == 4 and data["tokens"]["value"].sum() == 600
    assert data["trips"].to_dict("records") == [{"kind": "injection", "count": 1}]


@pytest.mark.parametrize(
    ("window", "buckets", "first", "last"),
    [
        ("last hour", 12, "01:15", "02:10"),
        ("last 24 hours", 24, "03:00", "02:00"),
        ("last 7 days", 28, "Tue 06:00", "Tue 00:00"),
        ("last 30 days", 30, "Oct 26", "Nov 24"),
    ],
)
def test_the_time_axis_spans_the_window_once_even_when_it_is_empty(window, buckets, first, last):
    data = plotted(window)
    for name in TIME_PLOTS:
        labels = list(dict.fromkeys(data[name]["time"]))  # in the order the plot draws them
        assert (len(labels), labels[0], labels[-1]) == (buckets, first, last), name
    assert data["turns"]["value"].sum() == 0
    assert data["shares"]["value"].isna().all()  # no turns: no rate, rather than a 0%


def test_turns_older_than_the_window_are_left_out():
    data = plotted("last hour", turn(5), turn(61))
    assert data["turns"]["value"].sum() == 1
