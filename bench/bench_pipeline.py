"""Pipeline latency on an idle local pool: real Redis, a real Celery trainer, the real analyst.

Prints, measured in this run:
  - submit → first trial running (goal ≤ 200 ms on an idle pool);
  - result stored → ranking record updated (goal ≤ 1 s);
  - queue overhead as a share of trial time (wall time of a 1-slot sweep minus the
    trials' own training time, over that training time).

Usage: python bench/bench_pipeline.py [--sweeps 10] [--trials 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

from digits_stack import cpu_stack, digits_spec, wait

from broker.settings import Settings
from webui import create_app

# The latencies measured are the time until a poll sees the event: poll far finer than they are.
POLL_S = 0.002


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    with cpu_stack(slots=1, bootstrap=200) as (_stack, store, url):
        wait(lambda: list(store.workers.live(30)), interval_s=POLL_S)
        api = create_app(Settings(redis_url=url, submits_per_minute=10**6)).test_client()
        api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {store.users.add('bench')}"

        def run_sweep(name: str, n: int) -> tuple[str, float]:
            t0 = time.time()
            sweep_id = api.post("/api/sweeps", json=digits_spec(name, n)).get_json()["id"]
            wait(lambda: store.sweeps.get(sweep_id).status == "completed", interval_s=POLL_S)
            return sweep_id, t0

        run_sweep("warm-up", 2)  # the child imports torch and loads digits once
        starts = []
        for i in range(args.sweeps):
            sweep_id, t0 = run_sweep(f"latency-{i}", 1)
            starts.append((store.trials.states(sweep_id)[0].started or t0) - t0)

        sweep_id, t0 = run_sweep("overhead", args.trials)
        wall = max(s.ended or t0 for s in store.trials.states(sweep_id).values()) - t0
        results = store.results.in_arrival_order(sweep_id)
        trained = sum(r.wall_time_s for r in results)
        wait(lambda: (r := store.rankings.latest(sweep_id)) and r.n_results == args.trials, interval_s=POLL_S)
        ended = sorted(s.ended or t0 for s in store.trials.states(sweep_id).values())
        history = store.rankings.history(sweep_id)
        lags = [min(h.time for h in history if h.n_trials >= k + 1) - ended[k] for k in range(len(ended))]

    print(
        f"submit -> first trial running, idle pool ({args.sweeps} sweeps): "
        f"median {statistics.median(starts) * 1e3:.0f} ms, max {max(starts) * 1e3:.0f} ms (goal <= 200 ms)"
    )
    print(
        f"result stored -> ranking updated ({args.trials} results): median {statistics.median(lags) * 1e3:.0f} ms, "
        f"max {max(lags) * 1e3:.0f} ms (goal <= 1000 ms)"
    )
    print(
        f"1-slot sweep of {args.trials} trials: wall {wall:.2f} s, training {trained:.2f} s, "
        f"queue overhead {(wall - trained) / trained:.1%} of trial time "
        f"({(wall - trained) / args.trials * 1e3:.0f} ms per trial)"
    )


if __name__ == "__main__":
    main()
