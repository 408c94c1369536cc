"""`python -m evals all [NAME ...]`: run every benchmark, each in its own process, and write
`evals/reports/REPORT.md` with each one's summary line, full output and the plots it saved."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).parent
REPORTS = HERE / "reports"
TIMEOUT_S = 1800  # the slowest (faults, load) take minutes on 2 cores


def _run(name: str) -> tuple[str, str, float, int]:
    """(summary line, full output, seconds, exit code) of `python -m evals NAME`."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "evals", name],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=HERE.parent,
        )
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as timed_out:
        output, code = f"{timed_out.stdout or ''}\n(timed out after {TIMEOUT_S} s)", 124
    seconds = time.perf_counter() - started
    summaries = [line for line in output.splitlines() if line.startswith(f"{name}: ")]
    summary = summaries[-1] if summaries else f"{name}: no summary line (exit {code})"
    return summary, output, seconds, code


def main(argv: list[str]) -> int:
    from evals.__main__ import available

    names = argv or [name for name in available() if name != "all"]
    REPORTS.mkdir(parents=True, exist_ok=True)
    load = psutil.getloadavg()
    lines = [
        "# Benchmark report",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{psutil.cpu_count()} cores, load average {load[0]:.1f} at start. "
        "Timings are medians after warm-up; compare ratios across machines.",
        "",
        "| benchmark | summary | exit | wall s |",
        "|---|---|---|---|",
    ]
    details: list[str] = []
    failed = 0
    for name in names:
        summary, output, seconds, code = _run(name)
        failed += code != 0
        print(summary, flush=True)
        lines.append(f"| {name} | `{summary}` | {code} | {seconds:.0f} |")
        details += [f"## {name}", "", "```", output.strip()[-6000:], "```", ""]
    plots = sorted(path.name for path in REPORTS.glob("*.png"))
    lines += ["", *[f"![{plot}]({plot})" for plot in plots], "", *details]
    (REPORTS / "REPORT.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"all: {len(names) - failed}/{len(names)} benchmarks ran, report in {REPORTS}/REPORT.md")
    return 1 if failed else 0
