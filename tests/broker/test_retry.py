"""The retry policy: what counts as losing a trial's worker, and when a trial stops getting attempts."""

from __future__ import annotations

import pytest

from broker.retry import Interruption, Next, RetryPolicy, lost_in_queue
from trials.specs import TrialLimits, TrialStatus

LOST = Interruption.stopped_heartbeating("host:1")
HANDED_BACK = Interruption.shut_down("host:1")


def test_losses_count_until_the_limit_fails_the_trial() -> None:
    policy = RetryPolicy.of(TrialLimits(max_attempts=3))
    assert policy.after(0, LOST, sweep_stopping=False) == Next(1, None, "worker host:1 stopped heartbeating")
    assert policy.after(1, LOST, sweep_stopping=False) == Next(2, None, "worker host:1 stopped heartbeating")
    assert policy.after(2, LOST, sweep_stopping=False) == Next(3, TrialStatus.FAILED, "worker lost 3 times")


def test_a_trial_allowed_one_attempt_fails_at_its_first_loss() -> None:
    assert RetryPolicy(max_attempts=1).after(0, LOST, sweep_stopping=False).ending == TrialStatus.FAILED


@pytest.mark.parametrize(
    "interruption",
    [Interruption.shut_down("w:1"), Interruption.redis_outage()],
    ids=["worker shut down", "Redis outage"],
)
def test_a_handed_back_attempt_is_not_a_loss(interruption: Interruption) -> None:
    policy = RetryPolicy(max_attempts=2)
    after = policy.after(1, interruption, sweep_stopping=False)
    assert after == Next(1, None, interruption.why), "retried however often it is handed back"


@pytest.mark.parametrize(
    ("interruption", "lost"),
    [
        (Interruption.stopped_heartbeating("w:1"), True),
        (Interruption.never_started(61), True),
        (Interruption.worker_died("worker w:1 died: SIGKILL"), True),
        (Interruption.shut_down("w:1"), False),
        (Interruption.redis_outage(), False),
    ],
)
def test_what_counts_as_a_loss(interruption: Interruption, lost: bool) -> None:
    assert interruption.lost is lost


def test_a_stopping_sweep_cancels_instead_of_retrying_but_the_limit_still_fails_first() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.after(0, HANDED_BACK, sweep_stopping=True) == Next(0, TrialStatus.CANCELLED, HANDED_BACK.why)
    assert policy.after(2, LOST, sweep_stopping=True).ending == TrialStatus.FAILED


def test_an_unclaimed_attempt_is_lost_only_after_the_grace_and_only_where_someone_consumes() -> None:
    assert not lost_in_queue(59.9, consumers=True, grace_s=60)
    assert lost_in_queue(60, consumers=True, grace_s=60)
    assert not lost_in_queue(3600, consumers=False, grace_s=60), "no trainer for the queue: waiting is normal"
    assert Interruption.never_started(120.4).why == "queued 120 s without being started"
