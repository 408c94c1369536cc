"""Phoenix as a child process: `phoenix serve` on 127.0.0.1 with its data under our data dir.

The app starts one at boot (unless `PHOENIX_COLLECTOR_ENDPOINT` names an existing server) and
the tracing tests start one per module. Phoenix binds 0.0.0.0 and gRPC on 4317 unless told
otherwise (PITFALLS.md), so both ports and the host are always set explicitly here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 60.0  # ~7 s on an idle 2-core machine; much more under a parallel test run
STOP_TIMEOUT_S = 10.0


class PhoenixStartError(RuntimeError):
    """`phoenix serve` exited or did not answer its health check in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


class PhoenixServer:
    """One `phoenix serve` child; `url` is both the UI and the OTLP HTTP collector base."""

    def __init__(self, working_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.working_dir = working_dir
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = working_dir / "phoenix.log"

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> PhoenixServer:
        """Start the child and wait until it answers `/healthz`; raise `PhoenixStartError`."""
        self.launch()
        self.wait_ready(timeout_s)
        return self

    def launch(self) -> PhoenixServer:
        """Start the child without waiting (the caller does other work, then `wait_ready`)."""
        if port_in_use(self.host, self.port):
            raise PhoenixStartError(f"port {self.port} on {self.host} is already taken")
        self.working_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PHOENIX_HOST": self.host,
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port(self.host)),
            "PHOENIX_WORKING_DIR": str(self.working_dir),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        }
        env.pop("PHOENIX_COLLECTOR_ENDPOINT", None)
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "phoenix.server.main", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it in order
            )
        return self

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PhoenixStartError(
                    f"phoenix serve exited with {self._process.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        tail = self.log_tail()
        raise PhoenixStartError(f"phoenix serve not ready after {timeout_s:.0f} s: {tail}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after a grace period); idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> PhoenixServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
