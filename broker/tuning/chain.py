"""Tune what matters: a follow-up sweep built from a sweep's ranking, and sequential-tuning chains.

`tune` reads the parent's latest ranking and its best completed trial and applies the rule of
broker/tuning/rule.py: vary the hyperparameters found to matter (most important first, at most `top`),
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

from broker.connection import BrokerUnavailable
from broker.dispatcher import Dispatcher
from broker.store import Store, UnknownSweep
from broker.sweep_actions import cancel, plan_trials, submit
from broker.tuning.rule import NothingToTune, ScoredTrial, TunePlan, best_trial, plan_tune
from trials.records import SweepRecord
from trials.specs import CONTINUES_CHAIN, SweepSpec, TrialStatus, TuneOrigin, TuneRequest

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


class ChainRefused(NothingToTune):
    """A stored chain link that the server did not make as it claims (a forged or damaged tune origin)."""


def advance_chains(store: Store, dispatcher: Dispatcher) -> list[str]:
    """Create the next group's sweep of every chain whose current sweep completed; returns the new ids.

    Each link is processed on its own: one whose sweep is gone, forged or cannot be continued is closed
    (and its sweep marked failed with the error), never stopping the others or the process that runs this.
    """
    created = []
    for sweep_id in store.sweeps.open_chain_links():
        try:
            next_id = _advance(store, sweep_id)
        except BrokerUnavailable:
            raise
        except UnknownSweep:
            store.sweeps.close_chain_link(sweep_id)  # a link left by a sweep that no longer exists
            continue
        except Exception as err:
            log.exception("chain link %s cannot be continued; closed", sweep_id)
            store.sweeps.close_chain_link(sweep_id)
            store.fail_sweep(sweep_id, f"its chain cannot continue: {type(err).__name__}: {err}")
            continue
        if next_id is not None:
            created.append(next_id)
    if created:
        dispatcher.refill()
    return created


def _advance(store: Store, sweep_id: str) -> str | None:
    """The next group's sweep after `sweep_id`, if it is due and could be created now."""
    record = store.sweeps.get(sweep_id)
    origin = record.spec.tune
    if not record.status.final:
        return None
    if origin is None or origin.next_group is None or record.status not in CONTINUES_CHAIN:
        store.sweeps.close_chain_link(sweep_id)
        return None
    try:
        check_chain_origin(store, record, origin)
        next_id = _create_next(store, record, origin)
    except NothingToTune as err:
        log.warning("chain of %s ends at %s: %s", origin.chain_root or sweep_id, sweep_id, err)
        store.sweeps.close_chain_link(sweep_id)
        return None
    # None: cancelled, or created by another process, or the links changed meanwhile (the next tick retries).
    if next_id is not None:
        log.info("chain %s: group %d is sweep %s", origin.chain_root or sweep_id, origin.group + 2, next_id)
    return next_id


def check_chain_origin(store: Store, record: SweepRecord, origin: TuneOrigin) -> None:
    """Check a stored chain origin again before it is acted on (ChainRefused says what does not hold).

    The groups must name hyperparameters of the sweep's own space, and a chain's later sweep must be one
    that the server linked from the chain's first sweep, of the same owner.
    """
    known = set(record.spec.full_space().names)
    unknown = sorted({name for group in origin.groups for name in group} - known)
    if unknown:
        raise ChainRefused(f"sweep {record.id}: its chain groups name {unknown}, not hyperparameters of its space")
    if not 0 <= origin.group < len(origin.groups):
        raise ChainRefused(f"sweep {record.id}: group {origin.group} is not one of its {len(origin.groups)} groups")
    if origin.chain_root is not None and record.id not in _linked_from(store, origin.chain_root, record.owner):
        raise ChainRefused(f"sweep {record.id}: the server never linked it from chain {origin.chain_root}")


def _linked_from(store: Store, root: str, owner: str) -> list[str]:
    """The sweeps the server linked after `root` (its own chain of sweeps), only while they are `owner`'s."""
    try:
        if store.sweeps.owner_of(root) != owner:
            return []
    except UnknownSweep:
        return []
    chain = [root]
    while (after := store.sweeps.next_in_chain(chain[-1])) is not None and after not in chain:
        chain.append(after)
    return chain


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
    # Only links the server made, from a root of the same owner, that reach this sweep: a stored origin naming
    # someone else's sweep as its root must never let its owner act on that chain.
    chain = _linked_from(store, origin.chain_root or record.id, record.owner)
    return chain if record.id in chain else [record.id]


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
