"""A trial's key and its live state: parsed and validated, written back exactly as read."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from trials.specs import TrialKey, TrialSpec, TrialStatus
from trials.trial_state import TrialState, patch


def test_a_key_reads_back_from_its_text() -> None:
    key = TrialKey("sw12", 3, 2)
    assert str(key) == "sw12:3:2"
    assert TrialKey.parse(str(key)) == key
    spec = TrialSpec(sweep_id="sw12", trial_id=3, attempt=2, dataset="digits", config={}, seed=0)
    assert spec.key == key


@pytest.mark.parametrize(
    "text",
    ["sw12:3", "sw12:3:2:1", "x12:3:2", "sw12:-3:2", "sw12:3:0", "sw12:3:", "sw12: 3:2", "sw12:٣:2", "sw1:1:1" + "x"],
)
def test_a_key_that_str_could_not_have_written_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a trial key"):
        TrialKey.parse(text)


def test_a_state_round_trips_with_only_the_fields_that_were_set() -> None:
    stored = json.dumps({"status": "running", "dataset": "digits", "attempt": 2, "epoch": 1, "worker": "w:1"})
    state = TrialState.from_json(stored)
    assert (state.status, state.attempt, state.epoch, state.epochs) == (TrialStatus.RUNNING, 2, 1, None)
    assert json.loads(state.to_json()) == json.loads(stored), "no null for the fields never set"
    assert state.model_dump(mode="json") == json.loads(stored)


def test_an_empty_state_serves_as_an_empty_object_and_reads_as_attempt_one() -> None:
    assert TrialState().model_dump(mode="json") == {}
    assert TrialState().current_attempt == 1 and TrialState().attempt is None
    assert TrialState(attempt=3).current_attempt == 3


def test_a_patch_is_checked_before_it_is_written() -> None:
    assert json.loads(patch(status=TrialStatus.QUEUED, attempt=2, losses=1)) == {
        "status": "queued",
        "attempt": 2,
        "losses": 1,
    }
    with pytest.raises(ValidationError):
        patch(epoch="three")
    with pytest.raises(ValidationError):
        patch(colour="blue")
    with pytest.raises(ValidationError):
        patch(status="exploded")
