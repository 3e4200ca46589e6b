"""N-RReliefF next to fANOVA and PED-ANOVA on the same stored trials, computed by the analyst on request.

The comparators see exactly the trials the latest ranking saw (the first
n_results of the arrival list). The pooled comparison is defined as the pooled
N-RReliefF is: the trial-weighted mean of the per-dataset answers
(`importance.compare.pool_comparisons`, also used by `sweeprank rank`).
"""

from __future__ import annotations

from collections.abc import Mapping

from broker.store import Store
from importance.compare import MethodResult, compare, pool_comparisons
from importance.ranking_record import POOLED
from trials.encoding import encode_trials, optuna_view, result_row
from trials.records import Comparison, ComparisonGroup, MethodComparison, RankingRecord, SweepRecord
from trials.space import SearchSpace

MIN_TRIALS = 8  # below this the forests of fANOVA say nothing useful


def compare_latest(store: Store, sweep_id: str) -> Comparison | None:
    """The comparison of the sweep's latest ranking (None before its first ranking)."""
    ranking = store.rankings.latest(sweep_id)
    return None if ranking is None else _compare(store, store.sweeps.get(sweep_id), ranking)


def _compare(store: Store, record: SweepRecord, ranking: RankingRecord) -> Comparison:
    sweep_id, n_results = record.id, ranking.n_results
    spec = record.spec
    space = SearchSpace.from_dict(record.space)
    rows = [result_row(r, spec.metric, space) for r in store.results.in_arrival_order(sweep_id, limit=n_results)]
    encoded = encode_trials(space, rows, maximize=spec.direction == "maximize")
    groups: dict[str, ComparisonGroup] = {}
    for name, group in ranking.groups.items():
        if name == POOLED:
            continue
        trials = encoded.subset(name)
        nrrelieff = group.importances()
        if trials.n < MIN_TRIALS:
            message = f"{trials.n} completed trials; the comparison needs at least {MIN_TRIALS}"
            groups[name] = ComparisonGroup(n_trials=trials.n, names=group.ranking, nrrelieff=nrrelieff, message=message)
        else:
            params, distributions = optuna_view(space, trials)
            # encode_trials already flipped a minimised metric, so higher is better for every method.
            # An unknown N-RReliefF share (null in the record) counts as 0, as the one-line reading does.
            shares = {n: v or 0.0 for n, v in nrrelieff.items()}
            methods = compare(trials.finished(params, distributions), shares)
            groups[name] = _group(trials.n, group.ranking, nrrelieff, methods)
    pooled = ranking.groups.get(POOLED)
    compared = {g: c for g, c in groups.items() if c.methods}
    if pooled is not None and compared:
        # Pooled as the pooled N-RReliefF is: the trial-weighted mean of the datasets' answers.
        nrrelieff = pooled.importances()
        per_group = {
            g: (
                c.n_trials,
                {
                    m: MethodResult(importances=r.importances, kendall_tau=r.kendall_tau)
                    for m, r in (c.methods or {}).items()
                },
            )
            for g, c in compared.items()
        }
        shares = {n: v or 0.0 for n, v in nrrelieff.items()}
        methods = pool_comparisons(per_group, shares, pooled.ranking)
        groups[POOLED] = _group(sum(c.n_trials for c in compared.values()), pooled.ranking, nrrelieff, methods)
    return Comparison(sweep_id=sweep_id, n_results=n_results, ranking_time=ranking.time, groups=groups)


def _group(
    n_trials: int, names: list[str], nrrelieff: dict[str, float | None], methods: Mapping[str, MethodResult]
) -> ComparisonGroup:
    return ComparisonGroup(
        n_trials=n_trials,
        names=names,
        nrrelieff=nrrelieff,
        methods={m: MethodComparison.model_validate(found) for m, found in methods.items()},
    )
