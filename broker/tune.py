"""Tune what matters: a follow-up sweep built from a sweep's ranking, and sequential-tuning chains.

`tune` reads the parent's latest ranking and its best completed trial and applies the rule of
trials/tuning.py: vary the hyperparameters found to matter (most important first, at most `top`),
hold the others at the best trial's values; same datasets, metric, space and limits as the parent.

A sequential chain (`sequential=True`) creates its first group's sweep now; each time a chain sweep
completes (or stops as stable), `advance_chains` (the analyst's tick) creates the next group's sweep,
varying that group and holding everything else at the best trial of the sweep just finished. The
next sweep is created in one transaction with the link to it, so a chain never forks and a
restarted analyst picks up where the last one stopped. A chain sweep that is cancelled or fails
ends the chain; cancelling any sweep of a chain cancels the one running (`cancel_chain`).
"""

from __future__ import annotations

import logging

from broker.dispatcher import Dispatcher
from broker.store import Store
from broker.sweeps import cancel, plan_trials, submit
from trials.records import SweepRecord
from trials.specs import CONTINUES_CHAIN, SweepSpec, TrialStatus, TuneOrigin, TuneRequest
from trials.tuning import NothingToTune, ScoredTrial, TunePlan, best_trial, plan_tune

log = logging.getLogger(__name__)


def scored_trials(store: Store, record: SweepRecord) -> list[ScoredTrial]:
    """The sweep's completed trials with a value of its metric."""
    return [
        ScoredTrial(r.trial_id, r.config, value)
        for r in store.results.in_arrival_order(record.id)
        if r.status is TrialStatus.COMPLETED and (value := r.metric(record.spec.metric)) is not None
    ]


def best_of(store: Store, record: SweepRecord) -> ScoredTrial:
    return best_trial(scored_trials(store, record), record.spec.direction)


def follow_up_spec(
    parent: SweepRecord, plan: TunePlan, group: int, request: TuneRequest, owner: str, chain_root: str | None
) -> SweepSpec:
    """The spec of a tune sweep of `plan.groups[group]`: the parent's problem, only that group varied.

    Validated again, as a submitted spec is: the held values must fit the parent's (possibly narrowed) space.
    """
    tuned = plan.groups[group]
    base = parent.spec
    spec = base.model_copy(
        update={
            "owner": owner,
            "name": f"tune {', '.join(tuned)} ({parent.id}{'' if len(plan.groups) == 1 else f', group {group + 1}'})",
            "n_trials": request.n_trials,
            "sampler": request.sampler,
            "pruner": request.pruner,
            "seed": base.seed if request.seed is None else request.seed,
            "fixed": plan.held,
            "stop_when_stable": False,
            "tune": TuneOrigin(
                parent=parent.id,
                tuned=tuned,
                held_from_trial=plan.best_trial_id,
                groups=plan.groups if request.sequential else [],
                group=group,
                chain_root=chain_root,
                request=request,
            ),
        }
    )
    return SweepSpec.model_validate(spec.model_dump())


def tune(
    store: Store,
    dispatcher: Dispatcher,
    parent_id: str,
    request: TuneRequest,
    owner: str,
    max_queued_per_owner: int | None = None,
) -> str:
    """Create the follow-up sweep (or a chain's first group) of a ranked sweep; returns its id."""
    parent = store.sweeps.get(parent_id)
    ranking = store.rankings.latest(parent_id)
    if ranking is None:
        raise NothingToTune(f"sweep {parent_id} has no ranking yet: tune once some of its trials have completed")
    plan = plan_tune(
        ranking.pooled, best_of(store, parent), request.top, request.group_size if request.sequential else None
    )
    spec = follow_up_spec(parent, plan, 0, request, owner, chain_root=None)
    return submit(store, dispatcher, spec, max_queued_per_owner)


def advance_chains(store: Store, dispatcher: Dispatcher) -> list[str]:
    """Create the next group's sweep of every chain whose current sweep completed; returns the new ids."""
    created = []
    for sweep_id in store.sweeps.open_chain_links():
        record = store.sweeps.get(sweep_id)
        origin = record.spec.tune
        if not record.status.final:
            continue
        if origin is None or origin.next_group is None or record.status not in CONTINUES_CHAIN:
            store.sweeps.close_chain_link(sweep_id)
            continue
        try:
            next_id = _create_next(store, record, origin)
        except NothingToTune as err:
            log.warning("chain of %s ends at %s: %s", origin.chain_root or sweep_id, sweep_id, err)
            store.sweeps.close_chain_link(sweep_id)
            continue
        # None: cancelled, or created by another process, or the links changed meanwhile (the next tick retries).
        if next_id is not None:
            created.append(next_id)
            log.info("chain %s: group %d is sweep %s", origin.chain_root or sweep_id, origin.group + 2, next_id)
    if created:
        dispatcher.refill()
    return created


def _create_next(store: Store, record: SweepRecord, origin: TuneOrigin) -> str | None:
    best = best_of(store, record)
    group = origin.group + 1
    # Everything but the next group is held at this sweep's best trial (which carries the held values too).
    tuned = set(origin.groups[group])
    plan = TunePlan(origin.groups, {k: v for k, v in best.config.items() if k not in tuned}, best.trial_id)
    spec = follow_up_spec(record, plan, group, origin.request, record.owner, origin.chain_root or record.id)
    return store.sweeps.create_after(record.id, spec, plan_trials(spec))


def chain_of(store: Store, record: SweepRecord) -> list[str]:
    """Every sweep of the chain `record` belongs to, in order (just itself when it is not in a chain)."""
    origin = record.spec.tune
    if origin is None or not origin.groups:
        return [record.id]
    chain = [origin.chain_root or record.id]
    while (after := store.sweeps.next_in_chain(chain[-1])) is not None:
        chain.append(after)
    return chain


def cancel_chain(store: Store, dispatcher: Dispatcher, sweep_id: str, by: str) -> list[str]:
    """Cancel a sweep; in a chain, cancel its running sweep and start no later group. Returns what was cancelled.

    A chain between groups (one completed, the next not created yet) has nothing running: it just ends ([]).
    """
    chain = chain_of(store, store.sweeps.get(sweep_id))
    stopped = [member for member in chain if store.sweeps.close_chain_link(member)]
    running = [s for s in chain if not store.sweeps.status(s).final]
    if not running and stopped:
        return []
    for member in running or [sweep_id]:  # nothing running and no chain: cancel() says why it cannot
        cancel(store, dispatcher, member, by)
    return running or [sweep_id]
