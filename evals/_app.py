"""The real app (`python app.py`) as a child process for the start-up and load benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from phoenix_server import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 900.0  # a first run seeds, ingests and trains; slow on a busy machine


class AppProcess:
    """`app.py` on a free port with its own data dir; `ready_s` is launch -> /healthz."""

    def __init__(
        self,
        data_dir: Path,
        *,
        phoenix: bool = False,
        password: str = "bench",
        model_cache: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "APP_PORT": str(self.port),
            "STAFF_PASSWORD": password,
            "TRACING": "on" if phoenix else "off",
            "PHOENIX_PORT": str(free_port()),
        }
        for name in ("DATABASE_URL", "CHROMA_PATH", "PHOENIX_COLLECTOR_ENDPOINT"):
            self.env.pop(name, None)
        if model_cache is not None:  # else the machine's cache of the model export and classifiers
            self.env["MODEL_CACHE_DIR"] = str(model_cache)
        self.log = data_dir / "app.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_s = 0.0

    def start(self) -> AppProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py")],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        while time.perf_counter() - started < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited ({self.process.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.ready_s = time.perf_counter() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"app not ready after {READY_TIMEOUT_S:.0f} s; see {self.log}")

    def rss_mb(self, *, children: bool = False) -> float:
        """Resident memory of the app (and, if asked, its children: Phoenix) in MB."""
        if self.process is None:
            return 0.0
        proc = psutil.Process(self.process.pid)
        procs = [proc, *(proc.children(recursive=True) if children else [])]
        return sum(p.memory_info().rss for p in procs) / 2**20

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(2)  # SIGINT: the app's own Ctrl-C path stops its children
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
