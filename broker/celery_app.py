"""The Celery application and every Celery setting (docs/architecture.md, "Processes").

`make_celery(settings)` builds the app. The web process and the analyst build one to
send tasks by name; this module must stay free of torch. Trainer processes run the app
of `workers.tasks`, built from the same function, on which that module registers the tasks.
"""

from __future__ import annotations

from celery import Celery

from broker import keys
from broker.settings import Settings

TRAIN_TRIAL = "sweeprank.train_trial"
DEVICE_CLASSES = ("cpu", "gpu")
# The worker pool kills a trial at its hard limit; keep a margin below the
# visibility timeout so Redis never redelivers a task that is still running.
HARD_LIMIT_MARGIN_S = 300


def device_class_of(device: str) -> str:
    """The device class ("cpu" or "gpu") of a trainer on `device` ("cpu", "cuda:0"...)."""
    return "gpu" if device.startswith("cuda") else "cpu"


def queue_for_device(device: str) -> str:
    """The queue a trainer on `device` consumes."""
    return keys.queue_name(device_class_of(device))


def hard_limit_margin(visibility_timeout_s: float) -> float:
    return min(HARD_LIMIT_MARGIN_S, visibility_timeout_s / 10)


def make_celery(settings: Settings) -> Celery:
    app = Celery("sweeprank", broker=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        # A child that dies mid-trial: its parent acknowledges the message and re-queues the
        # trial as a new attempt itself (workers/trial_request.py). Rejecting or retrying the
        # message as well would run the dead attempt a second time.
        task_acks_on_failure=True,
        task_reject_on_worker_lost=False,
        task_retry_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": settings.unacked_restore_every_s,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        # A lost broker connection must not cancel the running trials (Celery 6 will default to cancelling):
        # they train on and are acknowledged after the reconnect (workers/reconnect.py).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue=keys.queue_name("cpu"),
        task_time_limit=settings.visibility_timeout_s - hard_limit_margin(settings.visibility_timeout_s),
        worker_hijack_root_logger=False,
        # A child that is slow to start under load must not be killed and replaced in a loop.
        worker_proc_alive_timeout=60.0,
        worker_send_task_events=False,
    )
    return app


def hard_limit_for(requested_s: float, settings: Settings) -> float:
    """The hard limit sent with a trial, clipped below the visibility timeout."""
    return min(requested_s, settings.visibility_timeout_s - hard_limit_margin(settings.visibility_timeout_s))
