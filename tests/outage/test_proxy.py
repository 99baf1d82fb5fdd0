"""The outage proxy itself: it forwards, a cut kills every connection and refuses new ones."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.outage.proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture(name="echo_proxy")
def _echo_proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy = TcpProxy("127.0.0.1", server.server_address[1]).start()
    try:
        yield proxy
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_forwards_bytes_both_ways(echo_proxy):
    """Bytes sent through the proxy come back from the upstream unchanged."""
    with socket.create_connection(("127.0.0.1", echo_proxy.port), timeout=5) as sock:
        assert b"hello" * 1000 == roundtrip(sock, b"hello" * 1000)


def test_cut_closes_open_connections_and_refuses_new_ones(echo_proxy):
    """After a cut an open connection reads EOF or a reset and a new one is refused."""
    sock = socket.create_connection(("127.0.0.1", echo_proxy.port), timeout=5)
    try:
        assert b"ping" == roundtrip(sock, b"ping")
        echo_proxy.cut()
        try:
            assert b"" == sock.recv(16)
        except ConnectionResetError:
            pass  # an aborted connection may also surface as a reset
    finally:
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", echo_proxy.port), timeout=5).close()
    assert (False, 0) == (echo_proxy.listening, echo_proxy.open_connections)


def test_restore_accepts_again_on_the_same_port(echo_proxy):
    """A restored proxy listens on the port it had before the cut."""
    port = echo_proxy.port
    echo_proxy.cut()
    echo_proxy.restore()
    assert port == echo_proxy.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert b"back" == roundtrip(sock, b"back")
