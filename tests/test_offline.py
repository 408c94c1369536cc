"""The suite's own guarantees: no connection leaves the machine."""

import socket

import pytest

from tests.conftest import NetworkForbidden


@pytest.mark.parametrize(
    "address",
    [("203.0.113.7", 443), ("8.8.8.8", 53), ("10.0.0.1", 80), ("api.openai.com", 443)],
)
def test_non_loopback_connections_fail(address):
    with socket.socket() as sock, pytest.raises(NetworkForbidden):
        sock.connect(address)


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
