"""A trial's live state: what the trials table and the monitor show before (and besides) its final result.

Stored as one JSON object per trial and merged field by field inside Redis, so a trainer, the dispatcher
and the reconciler each write only what they know. A field that no writer has set yet is absent, not
null, both in Redis and in what the API serves: the page tells "no epoch yet" by the field's absence.
That is why this is a pydantic model whose serialisation keeps only the fields that were set
(`model_fields_set`), read back exactly as stored; the same model validates every patch before it is
written and every state read back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from trials.specs import TrialStatus


class TrialState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TrialStatus = TrialStatus.QUEUED
    dataset: str = ""
    attempt: int | None = None  # None until first dispatched (see `current_attempt`)
    dispatched: float | None = None  # when the current attempt was queued (epoch seconds)
    losses: int = 0  # attempts whose worker was lost (broker/retry.py)
    last_loss: str | None = None  # why the previous attempt ended without a result
    worker: str | None = None  # "WORKER:PID" of the trainer that runs or ran it
    started: float | None = None
    epoch: int | None = None  # epochs done by the running attempt
    epochs: int | None = None  # epochs the config asks for
    val_accuracy: float | None = None
    train_loss: float | None = None
    ended: float | None = None

    @property
    def current_attempt(self) -> int:
        """The attempt allowed to write the trial's state and result: 1 until the first dispatch says otherwise."""
        return self.attempt or 1

    @classmethod
    def from_json(cls, raw: str | bytes) -> TrialState:
        return cls.model_validate_json(raw)

    def to_json(self) -> str:
        return self.model_dump_json()

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        return {name: value for name, value in handler(self).items() if name in self.model_fields_set}


def patch(**fields: Any) -> str:
    """The JSON of a state update (some fields), checked against the model: an unknown field or a wrong type raises."""
    return TrialState.model_validate(fields).to_json()
