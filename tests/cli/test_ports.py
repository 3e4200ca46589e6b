"""`up` refuses a web port that something listens on, and takes one a stopped server just left."""

from __future__ import annotations

import socket

import pytest

from sweeprank.stack import StackError, ensure_port_free, free_port


def test_a_port_someone_listens_on_is_refused() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        with pytest.raises(StackError, match="pick another --port"):
            ensure_port_free("127.0.0.1", server.getsockname()[1])


def test_a_port_whose_last_server_closed_its_connections_first_is_free() -> None:
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server closes first: its side of the connection waits in TIME_WAIT
            client.recv(1)
    ensure_port_free("127.0.0.1", port)  # a restarted `up` may serve there again at once
