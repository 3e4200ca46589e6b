"""Trainers retry a lost Redis every second, not after Celery's 2, 4, 6 ... 30 s."""

from __future__ import annotations

import logging
import re

import pytest
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.imports import symbol_by_name

from sweeprank.stack import free_port
from workers.reconnect import RideOutConsumer
from workers.tasks import app as trainer_app

RETRIES = 3


def test_the_trainer_app_runs_the_prompt_consumer_and_retries_forever() -> None:
    assert symbol_by_name(trainer_app.conf.worker_consumer) is RideOutConsumer
    assert trainer_app.conf.broker_connection_max_retries is None


def test_a_lost_broker_is_retried_within_a_second(caplog: pytest.LogCaptureFixture) -> None:
    # A port nobody listens on: every connect is refused at once, so only the waits between tries take time.
    app = Celery("reconnect-test", broker=f"redis://127.0.0.1:{free_port()}/0")
    app.conf.update(broker_connection_max_retries=RETRIES, broker_connection_retry_on_startup=True)
    consumer = RideOutConsumer.__new__(RideOutConsumer)  # only its connecting is under test
    consumer.app = app
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    with caplog.at_level(logging.ERROR), pytest.raises(OperationalError):
        consumer.ensure_connected(app.connection_for_read())
    waits = [float(w) for w in re.findall(r"Trying again in ([\d.]+) second", caplog.text)]
    assert len(waits) >= RETRIES - 1 and max(waits) <= 1.0, caplog.text
