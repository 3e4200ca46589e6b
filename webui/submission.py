"""Submitting a sweep on someone's behalf: the owner comes from who is logged in."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import Forbidden

from broker import sweeps
from broker.users import User
from trials.specs import parse_sweep_spec
from webui.ratelimit import enforce
from webui.services import services


def submit_as(user: User, raw: dict[str, Any]) -> str:
    """Validate (400 with field errors) and submit; a spec naming another owner is 403 unless admin."""
    spec = parse_sweep_spec({"owner": user.name, **raw})
    if not user.may_act_on(spec.owner):
        raise Forbidden(f"{user.name} may submit sweeps only as themselves, not as {spec.owner!r} (admins may)")
    svc = services()
    enforce(f"submit:{user.name}", "sweep submissions", svc.settings.submits_per_minute)
    return sweeps.submit(
        svc.store, svc.dispatcher, spec, max_queued_per_owner=svc.settings.max_queued_trials_per_member
    )
