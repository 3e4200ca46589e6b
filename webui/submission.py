"""Submitting a sweep on someone's behalf: the owner comes from who is logged in; its datasets must be prepared."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.exceptions import Forbidden

from broker import sweep_actions
from broker.members import User
from broker.tuning import chain
from trials.datasets import CATALOGUE, how_to_prepare, is_prepared
from trials.json_types import JSONObject
from trials.specs import SpecInvalid, SweepSpec, parse_sweep_spec, parse_tune_request
from trials.template import template_problems
from webui.ratelimit import enforce
from webui.services import Services, services


@dataclass(frozen=True)
class PreparedDatasets:
    """What the pool can load: None when a live trainer does not say (one older than the heartbeat field)."""

    names: frozenset[str] | None
    where: str

    @property
    def offered(self) -> list[str]:
        return sorted(self.names) if self.names is not None else sorted(CATALOGUE)

    def check(self, spec: SweepSpec) -> None:
        """A field error per dataset of the spec that no trainer could load: refused now, not failed at run time."""
        if self.names is None:
            return
        missing = [name for name in spec.datasets if not is_prepared(name, set(self.names))]
        if missing:
            raise SpecInvalid(
                [("datasets", f"{name} is not prepared on {self.where}: {how_to_prepare(name)}") for name in missing]
            )


def prepared_datasets(svc: Services) -> PreparedDatasets:
    """The union of what live trainers report in their heartbeats; with none live, what this host has.

    Trainers may run on other hosts with their own data roots, so their word counts; the web host's own
    roots are the best guess only while no trainer is up (the sweep waits for one anyway).
    """
    live = list(svc.store.workers.live(svc.settings.worker_ttl_s))
    if not live:
        return PreparedDatasets(frozenset(svc.settings.prepared_datasets()), "this host (no trainer is live)")
    if any(worker.datasets is None for worker in live):
        return PreparedDatasets(None, "")
    return PreparedDatasets(frozenset(n for worker in live for n in worker.datasets or []), "any live trainer")


def check_device_class(svc: Services, spec: SweepSpec) -> None:
    """Refuse a device class that no live trainer serves while others are live: it would wait forever, unsaid.

    With no trainer live at all the pool is down, not unable: the sweep waits for trainers like any other.
    """
    if not list(svc.store.workers.live(svc.settings.worker_ttl_s)):
        return
    if svc.dispatcher.capacity(spec.device_class) == 0:
        served = [dc for dc in ("cpu", "gpu") if svc.dispatcher.capacity(dc)]
        raise SpecInvalid(
            [("device_class", f"no live trainer serves {spec.device_class!r} (live trainers serve {served})")]
        )


def submit_as(user: User, raw: JSONObject) -> str:
    """Validate (400 with field errors) and submit; a spec naming another owner is 403 unless admin."""
    spec = parse_sweep_spec({"owner": user.name, **raw})
    if not user.may_act_on(spec.owner):
        raise Forbidden(f"{user.name} may submit sweeps only as themselves, not as {spec.owner!r} (admins may)")
    svc = services()
    prepared_datasets(svc).check(spec)
    check_device_class(svc, spec)
    if problems := template_problems(spec.full_space(), spec.fixed):
        raise SpecInvalid(problems)
    enforce(f"submit:{user.name}", "sweep submissions", svc.settings.submits_per_minute)
    return sweep_actions.submit(
        svc.store, svc.dispatcher, spec, max_queued_per_owner=svc.settings.max_queued_trials_per_member
    )


def tune_as(user: User, sweep_id: str, raw: JSONObject) -> str:
    """A tune sweep of `sweep_id` owned by the user (400 for a bad request or nothing to tune)."""
    request = parse_tune_request(raw)
    svc = services()
    svc.store.sweeps.get(sweep_id)  # 404 before anything else for an unknown sweep
    enforce(f"submit:{user.name}", "sweep submissions", svc.settings.submits_per_minute)
    return chain.tune(
        svc.store, svc.dispatcher, sweep_id, request, user.name, svc.settings.max_queued_trials_per_member
    )
