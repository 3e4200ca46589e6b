"""What the sweep list and the sweep page show beyond the stored records: ETA, best so far, a one-line reading.

All of it is derived from stored records (sweep, results, latest ranking); nothing is recomputed here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from broker.store import Store
from trials.specs import SweepStatus, TrialStatus

# How much of the pooled importance the "explains most" names must cover, and at most how many to name.
_MOST = 0.6
_MAX_NAMED = 3
# A hyperparameter "does not matter here" when its 95% CI reaches (almost) zero and its share is small.
_NEGLIGIBLE_CI_LOW = 0.005

_best_cache: OrderedDict[tuple[str, int], dict[str, Any] | None] = OrderedDict()
_CACHE_SIZE = 256


def best_result(store: Store, record: dict[str, Any]) -> dict[str, Any] | None:
    """The best completed trial by the sweep's metric; cached per (sweep, results count) as results only grow."""
    key = (record["id"], record["n_final"])
    if key in _best_cache:
        _best_cache.move_to_end(key)
        return _best_cache[key]
    metric, maximize = record["spec"]["metric"], record["spec"]["direction"] == "maximize"
    scored = [
        (value, r)
        for r in store.results(record["id"])
        if r.status is TrialStatus.COMPLETED and (value := r.metric(metric)) is not None
    ]
    best = None
    if scored:
        value, result = max(scored, key=lambda vr: vr[0] if maximize else -vr[0])
        best = {"metric": metric, "value": value, "trial_id": result.trial_id, "config": result.config}
    _best_cache[key] = best
    if len(_best_cache) > _CACHE_SIZE:
        _best_cache.popitem(last=False)
    return best


def eta_seconds(record: dict[str, Any], now: float | None = None) -> float | None:
    """Remaining trials at the sweep's average rate so far; None when ended or nothing finished yet."""
    if SweepStatus(record["status"]).final or record["n_final"] == 0:
        return None
    elapsed = (now or time.time()) - record["created"]
    return elapsed / record["n_final"] * (record["n_trials"] - record["n_final"])


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def reading(group: dict[str, Any] | None) -> str:
    """One plain sentence about a ranking group: which hyperparameters carry it, which do not matter."""
    if group is None:
        return "No ranking yet: it appears after the first completed trials."
    if group.get("message") and not any(group["importances"]):
        return str(group["message"])
    share = dict(zip(group["names"], group["importances"], strict=True))
    low = dict(zip(group["names"], group["ci_low"], strict=True))
    top: list[str] = []
    for name in group["ranking"]:
        if sum(share[n] for n in top) >= _MOST or len(top) == _MAX_NAMED:
            break
        top.append(name)
    covered = sum(share[n] for n in top)
    fair = 1.0 / len(share)
    idle = [n for n in reversed(group["ranking"]) if low[n] <= _NEGLIGIBLE_CI_LOW and share[n] < fair / 2][:2]
    verb = "explains" if len(top) == 1 else "explain"
    sentence = f"{_names(top)} {verb} {covered:.0%} of the importance"
    if idle:
        sentence += f"; {_names(idle)} {'does' if len(idle) == 1 else 'do'} not matter here"
    tail = "" if group["stability"]["stable"] else " (still changing)"
    return f"{sentence}{tail} — {group['n_trials']} completed trials."


def sweep_summary(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    ranking = store.latest_ranking(record["id"])
    pooled = ranking["groups"]["pooled"] if ranking else None
    return {
        "id": record["id"],
        "owner": record["owner"],
        "name": record["name"],
        "status": record["status"],
        "n_trials": record["n_trials"],
        "n_final": record["n_final"],
        "counts": record["counts"],
        "created": record["created"],
        "stop_reason": record["stop_reason"],
        "eta_s": eta_seconds(record),
        "best": best_result(store, record),
        "top": pooled["ranking"][:3] if pooled else [],
        "stability": pooled["stability"] if pooled else None,
        "reading": reading(pooled),
    }
