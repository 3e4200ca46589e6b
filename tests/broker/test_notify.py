"""The sd_notify keepalives: one datagram to $NOTIFY_SOCKET, never a wait, nothing without systemd."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from broker.processes import notify_service_manager, parent_of


def test_without_a_service_manager_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify_service_manager("WATCHDOG=1") is False


def test_a_keepalive_is_one_datagram_and_a_manager_that_does_not_read_never_blocks_the_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify.sock"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
        assert notify_service_manager("WATCHDOG=1") is True
        assert manager.recv(64) == b"WATCHDOG=1"
        sent: list[bool] = []
        # Far more than a unix datagram queue holds: once it is full, each ping is dropped, not waited on.
        sender = threading.Thread(target=lambda: sent.extend(notify_service_manager("WATCHDOG=1") for _ in range(500)))
        sender.start()
        sender.join(60)
        assert not sender.is_alive() and sent[0] is True and sent[-1] is False


def test_the_parent_of_a_process_and_of_none() -> None:
    assert parent_of(os.getpid()) == os.getppid()
    assert parent_of(2**22 + 12345) is None
