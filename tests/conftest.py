"""Suite-wide rules: offline, loopback only, and no real model call can ever succeed."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

os.environ.setdefault("DATA_DIR", "/nonexistent-use-a-fixture")  # nothing may touch ./var
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PHOENIX_COLLECTOR_ENDPOINT"):
    os.environ.pop(_name, None)

import settings  # noqa: E402  (telemetry and hub access off before any library loads)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkForbidden(RuntimeError):
    """A test tried to leave the machine (a real model, a hub, telemetry...)."""


def _check_address(address) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host = address[0]
    if host in {"localhost", ""}:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise NetworkForbidden(f"tests may not connect to {host!r}: only 127.0.0.1 is allowed")


def _guarded_connect(self, address):
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Any connection beyond loopback (e.g. a real model provider) fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private data directory (database, Chroma, caches) for one test."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CHROMA_PATH", raising=False)
    settings.get.cache_clear()
    yield tmp_path
    settings.get.cache_clear()


@pytest.fixture
def store(tmp_path):
    """A private copy of the seeded demo store (see tests/store_support.py), as an engine."""
    from tests.store_support import fresh_store

    engine = fresh_store(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _tool_governance():
    """Every agent a test runs passes the fail-closed tool hook, as in the app. Registered per
    test (idempotent) so a test that unregisters it cannot leave later tests unguarded; only
    once CrewAI is loaded, so tests that never touch it do not pay for importing it."""
    import sys

    if "crewai" in sys.modules:
        from guardrails.governance import register_hook

        register_hook()
    yield
