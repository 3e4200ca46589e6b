"""The analyst at long sweeps (issue 19): re-tests spaced out as n grows, and a restart that keeps finished sweeps'
rankings instead of fitting them again."""

from __future__ import annotations

import itertools

import numpy as np
import redis

from analyst.service import SweepAnalysis, retest_every
from broker import sweep_actions
from broker.store import Store
from importance.config import RankingConfig
from importance.nrrelieff import MIN_TRIALS
from tests.analyst.test_analyst import drain, feed, make_analyst, synthetic_accuracy
from tests.broker.conftest import make_spec
from trials.specs import TrialResult, TrialStatus


def test_significance_retests_space_out_as_the_sweep_grows(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    analyst = make_analyst(store)
    # N-RReliefF's permutation re-test is the O(n) one the analyst spaces out (the anova method schedules its own).
    spec = make_spec(n_trials=1400, importance_method="fixed-scale")
    sweep_id = sweep_actions.submit(store, analyst.dispatcher, spec)
    analysis = SweepAnalysis.of_stored(store, sweep_id, RankingConfig(bootstrap=10))
    rng = np.random.default_rng(0)
    tested: list[int] = []
    for trial_id in range(1399):  # one at a time, as a live sweep's results arrive
        spec = store.sweeps.trial_spec(sweep_id, trial_id)
        result = TrialResult(
            sweep_id=sweep_id,
            trial_id=trial_id,
            attempt=1,
            dataset=spec.dataset,
            config=spec.config,
            status=TrialStatus.COMPLETED,
            test_accuracy=synthetic_accuracy(spec.config, rng),
        )
        analysis.add([result])
        at = analysis.ranking.estimators["digits"].tested_at_
        if at >= MIN_TRIALS and (not tested or at != tested[-1]):
            tested.append(at)
    assert tested[0] == MIN_TRIALS
    # Each re-test comes when the count grew by retest_every(count before the new result) since the last one.
    for last, now in itertools.pairwise(tested):
        expected = next(n for n in range(last + 1, 1400) if n - last >= retest_every(n - 1))
        assert now == expected, (last, now)
    late = [b - a for a, b in itertools.pairwise(tested) if a >= 1100]
    assert late and min(late) >= 60, "beyond 1,000 trials the re-tests space out (1/20 of n)"
    assert len(tested) < 1400 // 50, "fewer re-tests than one per 50 trials"


def test_a_restart_keeps_finished_sweeps_rankings_and_fits_only_the_live_ones(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    analyst = make_analyst(store)
    analyst.start()
    rng = np.random.default_rng(1)
    done = sweep_actions.submit(store, analyst.dispatcher, make_spec(n_trials=40))
    feed(store, done, range(40), rng)
    live = sweep_actions.submit(store, analyst.dispatcher, make_spec(n_trials=40))
    feed(store, live, range(35), rng)
    drain(analyst)
    assert store.sweeps.get(done).status.final and not store.sweeps.get(live).status.final
    kept = store.rankings.latest(done)
    seq = store.rankings.last_seq(done)

    restarted = make_analyst(store)
    restarted.start()
    assert restarted.kept_as_ranked == {done} and set(restarted.sweeps) == {live}
    assert store.rankings.latest(done) == kept and store.rankings.last_seq(done) == seq, "nothing re-published"
    assert restarted.sweeps[live].n_results == 35
    # A sweep kept as ranked that is needed after all is fitted from its stored results then.
    assert restarted.analysis(done).n_results == 40 and done not in restarted.kept_as_ranked
