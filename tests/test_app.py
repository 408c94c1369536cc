"""Start-up: the README's command brings every door up, Ctrl-C takes everything down, and a
taken port gets a clear message (the app's own: stop; Phoenix's: serve without tracing)."""

from __future__ import annotations

import signal
import socket

import httpx
import psutil
import pytest

import app
import settings
from evals._app import AppProcess
from phoenix_server import free_port
from tests.ui_support import ready_data


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_app_port_stops_start_up_with_a_clear_message(data_dir, monkeypatch, taken_port):
    monkeypatch.setenv("APP_PORT", str(taken_port))
    with pytest.raises(app.PortTaken, match=f"port {taken_port} .* already in use.*APP_PORT"):
        app.start(settings.load())


def test_phoenix_failing_to_start_turns_tracing_off_and_says_so(data_dir, monkeypatch, taken_port):
    monkeypatch.setenv("PHOENIX_PORT", str(taken_port))
    child, url, note = app.start_phoenix(settings.load())
    assert child is None and url is None
    assert "tracing OFF" in note and str(taken_port) in note


def test_an_existing_phoenix_is_used_instead_of_starting_one(data_dir, monkeypatch):
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:9/")
    assert app.start_phoenix(settings.load()) == (
        None,
        "http://127.0.0.1:9",
        ("sending traces to http://127.0.0.1:9"),
    )


@pytest.mark.slow
def test_the_run_command_serves_every_door_and_ctrl_c_stops_everything(tmp_path_factory):
    data = ready_data(tmp_path_factory)["dir"]  # seeded and ingested: the restart path
    server = AppProcess(data, phoenix=True)
    server.env["PHOENIX_PORT"] = str(free_port())
    with server:
        chat = httpx.get(f"{server.url}/", timeout=10)
        assert chat.status_code == 200 and "Store assistant" in chat.text
        console = httpx.get(f"{server.url}/staff/", timeout=10)
        assert console.status_code == 200 and '"auth_required":true' in console.text
        phoenix = f"http://127.0.0.1:{server.env['PHOENIX_PORT']}"
        assert httpx.get(f"{phoenix}/healthz", timeout=10).status_code == 200
        log = server.log.read_text()
        assert f"{server.url}/staff" in log and phoenix in log
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert children, "Phoenix runs as a child process"
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, "Ctrl-C left a child running"
