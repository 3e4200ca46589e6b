"""Does importance-guided tuning save compute? Replays on surrogates of a real digits sweep.

Input: bench/data/digits_random.csv, a real random sweep of all 10 cnn-paper hyperparameters
(bench/collect_digits_sweep.py). Surrogates of test accuracy and log(trainer-seconds) are fitted
to it (held-out MAE and R^2 printed; tune_surrogate.py). A replayed trial's accuracy is the
surrogate's clipped prediction plus seed noise measured by retraining 16 of the sweep's configs
with 3 new seeds each (tune_seed_noise.py, bench/data/digits_seed_noise.csv; sd 0.003 near chance
and at 0.97, up to 0.08 in between); --noise residual draws hold-out residuals instead, which
mix the surrogate's own error (MAE 0.10) into the noise and drown the differences tuning chases.
Every strategy then gets the same budget of trainer-seconds (what --budget-trials random
trials cost on average) on each seed:
  - random search over all 10; TPE over all 10;
  - `tune --top K` and sequential groups (`group_size=G`) after E random explore trials ranked by
    sweeprank's importance engine, planned by broker/tuning/rule.py (tune_strategies.py).
Per strategy, two ways (median and IQR over seeds; a seed that never reached a target counts as
infinitely late, so a median is shown only when at least half reached it; ratios to TPE-all's median):
  - observed: compute-to-target, the trainer-seconds until the best accuracy so far reaches 99 % of
    the best any run reached, and the final best accuracy. Replayed accuracies carry seed noise, so
    this rewards a lucky draw as well as a good config (with --noise residual every run ends at the cap);
  - incumbent quality: the same, but for the noise-free surrogate accuracy of the incumbent (the
    trial with the best observed accuracy so far, what a user would pick), against 99 % of the best
    incumbent quality any run ended with. This is what the verdict and the pick use.
The guided settings of the grid are compared on --seeds seeds; the one with the lowest median
compute-to-target (incumbent quality) is then rerun, with TPE-all and random, on as many fresh
seeds, which are the figures to quote (picking the best of a grid on the seeds it was picked on
flatters it).

--real then runs TPE-all and that winner once each with real training (tune_real.py) on a
smaller budget.

Usage: python bench/bench_tune.py [--data bench/data/digits_random.csv] [--seeds 20] [--budget-trials 200]
                                  [--explore 30,60,100] [--top 1,3] [--group-size 1] [--jobs 2]
                                  [--plot]
                                  [--real] [--real-budget SECONDS]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tune_strategies import Guided, Objective, Trace, random_search, tpe_all
from tune_surrogate import Surrogate, fit_surrogate, read_sweep

from trials.presets import preset
from trials.records import RankingGroup
from trials.space import SearchSpace

Strategy = Callable[[SearchSpace, Objective, float, int], Trace]
HERE = Path(__file__).parent
TARGET_SHARE = 0.99
SAME_ACCURACY = 0.005  # final-best medians this close count as equal accuracy


def tune_space() -> SearchSpace:
    from collect_digits_sweep import TUNE_NARROW

    return preset("cnn-paper").narrow(TUNE_NARROW)


def surrogate_objective(surrogate: Surrogate, seed: int, stream: int) -> Objective:
    rng = np.random.default_rng([seed, stream])
    return lambda config: surrogate.evaluate(config, rng)


Quartiles = tuple[float, float, float]  # p25, median, p75 (inf: not reached by then)


@dataclass(frozen=True)
class Targets:
    observed: float  # 99 % of the best observed accuracy any run reached
    quality: float  # 99 % of the best incumbent quality any run ended with


@dataclass(frozen=True)
class Summary:
    label: str
    seeds: int
    reached: int
    to_target: Quartiles
    final: Quartiles
    reached_quality: int
    to_quality: Quartiles
    final_quality: Quartiles
    trials: float
    tuned: str

    def row(self, tpe: Summary) -> str:
        return (
            f"{self.label:<26} {self.reached:>3}/{self.seeds:<3} {_q(self.to_target):>15} "
            f"{_ratio(self.to_target, tpe.to_target):>6} {self.final[1]:>7.4f}  |  "
            f"{self.reached_quality:>3}/{self.seeds:<3} {_q(self.to_quality):>16} "
            f"{_ratio(self.to_quality, tpe.to_quality):>6} {self.final_quality[1]:>7.4f} "
            f"[{self.final_quality[0]:.4f}, {self.final_quality[2]:.4f}] {self.trials:>6.0f}  {self.tuned}"
        )


def _ratio(ours: Quartiles, tpe: Quartiles) -> str:
    return f"{ours[1] / tpe[1]:.2f}" if math.isfinite(ours[1]) and math.isfinite(tpe[1]) and tpe[1] else "-"


def _q(quartiles: tuple[float, float, float]) -> str:
    low, mid, high = (f"{v:.0f}" if math.isfinite(v) else "-" for v in quartiles)
    return f"{mid} [{low}, {high}]"


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    # method="lower"/"higher" keep an infinite value from turning a quartile into nan.
    return (
        float(np.percentile(values, 25, method="lower")),
        float(np.median(values)) if np.isfinite(np.median(values)) else math.inf,
        float(np.percentile(values, 75, method="higher")),
    )


def seconds_to_quality(trace: Trace, target: float) -> float | None:
    return next((at for at, q in trace.incumbent_quality(trace.notes["quality"]) if q >= target), None)


def final_quality(trace: Trace) -> float:
    points = trace.incumbent_quality(trace.notes["quality"])
    return points[-1][1] if points else 0.0


def summarise(label: str, traces: list[Trace], targets: Targets) -> Summary:
    seconds = [t.seconds_to(targets.observed) for t in traces]
    to_quality = [seconds_to_quality(t, targets.quality) for t in traces]
    tuned = [tuple(t.notes.get("tuned", ())) for t in traces if "tuned" in t.notes]
    common = max(set(tuned), key=tuned.count) if tuned else ()
    fallbacks = sum("fallback" in t.notes for t in traces)
    how = f"most often tuned ({tuned.count(common)}/{len(tuned)}): {','.join(common) or 'nothing'}" if tuned else ""
    return Summary(
        label=label,
        seeds=len(traces),
        reached=sum(s is not None for s in seconds),
        to_target=_quartiles([math.inf if s is None else s for s in seconds]),
        final=_quartiles([t.final_best() for t in traces]),
        reached_quality=sum(s is not None for s in to_quality),
        to_quality=_quartiles([math.inf if s is None else s for s in to_quality]),
        final_quality=_quartiles([final_quality(t) for t in traces]),
        trials=float(np.median([len(t.best_so_far()) for t in traces])),
        tuned=how + (f"; {fallbacks} fell back to TPE-all (nothing mattered)" if fallbacks else ""),
    )


@dataclass(frozen=True)
class Replay:
    space: SearchSpace
    surrogate: Surrogate
    budget_s: float


_replay: list[Replay] = []  # a worker process's replay, sent once when the process starts


def _start(replay: Replay) -> None:
    # The replay predicts one trial at a time: OpenMP threads cost ~10x more than they save there.
    threadpool_limits(1)
    _replay.append(replay)


def _replay_one(strategy: Strategy, seed: int, stream: int) -> Trace:
    on = _replay[0]
    trace = strategy(on.space, surrogate_objective(on.surrogate, seed, stream), on.budget_s, seed)
    trace.notes["quality"] = on.surrogate.quality(trace.configs[: len(trace.best_so_far())])
    return trace


def replay(strategies: dict[str, Strategy], pool: ProcessPoolExecutor, seeds: range) -> dict[str, list[Trace]]:
    """Every strategy on every seed; a strategy's noise stream is its place in `strategies`."""
    traces: dict[str, list[Trace]] = {}
    for stream, (label, strategy) in enumerate(strategies.items()):
        started = time.monotonic()
        traces[label] = list(pool.map(_replay_one, [strategy] * len(seeds), seeds, [stream] * len(seeds)))
        print(f"  {label}: {len(seeds)} seeds in {time.monotonic() - started:.0f} s", flush=True)
    return traces


def print_table(title: str, traces: dict[str, list[Trace]], targets: Targets) -> dict[str, Summary]:
    summaries = {label: summarise(label, runs, targets) for label, runs in traces.items()}
    print(f"\n{title}")
    print(
        f"{'':<26} {'observed accuracy':^38}  |  {'incumbent quality (noise-free)':^62}\n"
        f"{'strategy':<26} {'reached':>7} {'to target s':>15} {'vs TPE':>6} {'final':>7}  |  "
        f"{'reached':>7} {'to target s':>16} {'vs TPE':>6} {'final [IQR]':>24} {'trials':>6}  tuned"
    )
    for summary in summaries.values():
        print(summary.row(summaries["TPE all"]))
    return summaries


def pick(summaries: dict[str, Summary], guided: dict[str, Guided]) -> Guided:
    """Lowest median compute-to-target of incumbent quality; among equals, the higher median final quality."""
    return guided[min(guided, key=lambda label: (summaries[label].to_quality[1], -summaries[label].final_quality[1]))]


def verdict(summaries: dict[str, Summary], label: str) -> str:
    ours, tpe = summaries[label], summaries["TPE all"]
    lines = []
    for how, mine, theirs, final_mine, final_theirs in (
        ("incumbent quality", ours.to_quality, tpe.to_quality, ours.final_quality, tpe.final_quality),
        ("observed accuracy", ours.to_target, tpe.to_target, ours.final, tpe.final),
    ):
        saving = 1 - mine[1] / theirs[1] if math.isfinite(theirs[1]) and math.isfinite(mine[1]) else math.nan
        met = saving >= 0.30 and final_mine[1] >= final_theirs[1] - SAME_ACCURACY
        lines.append(
            f"{label} vs TPE all, {how}: {100 * saving:.0f} % less compute to target (goal >= 30 %), final "
            f"{final_mine[1]:.4f} vs {final_theirs[1]:.4f}: goal {'MET' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def plot(traces: dict[str, list[Trace]], budget_s: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget_s, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for label, runs in traces.items():
        curves = []
        for trace in runs:
            points = trace.best_so_far()
            at = np.array([p[0] for p in points])
            best = np.array([p[1] for p in points])
            index = np.searchsorted(at, grid, side="right") - 1
            curves.append(np.where(index >= 0, best[np.clip(index, 0, None)], 0.0))  # nothing ended yet
        ax.plot(grid, np.median(np.array(curves), axis=0), label=label)
    ax.set_xlabel("trainer-seconds")
    ax.set_ylabel("median best test accuracy so far")
    ax.set_ylim(0.8, 1.0)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"plot: {out.relative_to(HERE.parent)}")


def print_sweep_ranking(data: Path) -> None:
    """What the analyst concluded from the whole real sweep: the ranking an explore phase estimates."""
    path = data.with_suffix(".ranking.json")
    if not path.exists():
        return
    group = RankingGroup.model_validate_json(path.read_text())
    order = ", ".join(f"{row.name} {row.importance or 0:.2f} ({row.verdict or '?'})" for row in group.rows)
    print(f"the analyst's ranking of all {group.n_trials} real trials (pooled): {order}")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def run_real(space: SearchSpace, winner: Guided, budget_s: float, seed: int) -> None:
    from tune_real import real_objective

    print(f"\nreal training on digits, {budget_s:g} trainer-seconds each, seed {seed}:", flush=True)
    traces: dict[str, Trace] = {}
    for label, strategy in (("TPE all", tpe_all), (winner.label, winner)):
        started = time.monotonic()
        traces[label] = strategy(space, real_objective(seed), budget_s, seed)
        print(f"  {label}: {len(traces[label].accuracy)} trials in {time.monotonic() - started:.0f} s", flush=True)
    target = TARGET_SHARE * max(t.final_best() for t in traces.values())
    print(f"target: {TARGET_SHARE:.0%} of the best either reached = {target:.4f}")
    for label, trace in traces.items():
        reached = trace.seconds_to(target)
        print(
            f"  {label:<26} compute-to-target {'-' if reached is None else f'{reached:.0f} s'}, "
            f"final best {trace.final_best():.4f}, {len(trace.best_so_far())} trials within budget"
            + (f", tuned {trace.notes['groups']}" if "groups" in trace.notes else "")
            + (f", {trace.notes['fallback']}: fell back to TPE all" if "fallback" in trace.notes else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "digits_random.csv")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget-trials", type=float, default=200, help="budget: what this many random trials cost")
    parser.add_argument("--explore", type=_ints, default=[30, 60, 100], help="E values of the grid")
    parser.add_argument("--top", type=_ints, default=[1, 3], help="K values of the grid")
    parser.add_argument("--group-size", type=_ints, default=[1], help="G values of the grid")
    parser.add_argument("--jobs", type=int, default=2, help="processes replaying seeds in parallel")
    parser.add_argument("--plot", action="store_true", help="write bench/results/tune_best_so_far.png")
    parser.add_argument(
        "--noise",
        choices=["seed", "residual"],
        default="seed",
        help="replay noise: seed noise measured by real repeats (tune_seed_noise.py), or hold-out residuals",
    )
    parser.add_argument("--real", action="store_true", help="then run TPE all and the winner with real training")
    parser.add_argument("--real-budget", type=float, help="trainer-seconds per real run (default: the replay's budget)")
    parser.add_argument("--real-seed", type=int, default=0)
    parser.add_argument(
        "--real-explore", type=int, help="with --real: skip the replay, run this E (and --real-top / --real-group-size)"
    )
    parser.add_argument("--real-top", type=int)
    parser.add_argument("--real-group-size", type=int)
    args = parser.parse_args()
    space = tune_space()
    rows = read_sweep(args.data, space)
    surrogate = fit_surrogate(space, rows)
    if args.noise == "seed":
        from tune_seed_noise import NOISE_CSV, seed_noise

        means, sds = seed_noise()
        surrogate = dataclasses.replace(surrogate, seed_noise=(means, sds))
        print(
            f"replay noise: seed noise of {len(means)} configs retrained {NOISE_CSV.name}, sd "
            + ", ".join(f"{sd:.3f} at {mean:.3f}" for mean, sd in zip(means, sds, strict=True))
        )
    else:
        print("replay noise: hold-out residuals of the surrogate (model error and seed noise together)")
    mean_s = float(np.mean([r.seconds for r in rows]))
    budget_s = args.budget_trials * mean_s
    print(f"{len(rows)} trials from {args.data.name}; mean {mean_s:.3f} trainer-s per trial")
    print(
        f"surrogate held-out ({100 * 0.2:.0f} % of rows): test_accuracy MAE {surrogate.accuracy_error.mae:.4f} "
        f"R^2 {surrogate.accuracy_error.r2:.3f}; log(seconds) MAE {surrogate.log_seconds_error.mae:.3f} "
        f"R^2 {surrogate.log_seconds_error.r2:.3f} (seconds: MAE {surrogate.seconds_error.mae:.3f} s "
        f"R^2 {surrogate.seconds_error.r2:.3f})"
    )
    print_sweep_ranking(args.data)
    print(f"budget {budget_s:.0f} trainer-seconds (= {args.budget_trials:g} mean random trials) per run")

    if args.real and args.real_explore:
        chosen = Guided(args.real_explore, top=args.real_top, group_size=args.real_group_size)
        run_real(space, chosen, args.real_budget or budget_s, args.real_seed)
        return
    guided = {g.label: g for g in [Guided(e, top=k) for e in args.explore for k in args.top]}
    guided |= {g.label: g for g in [Guided(e, group_size=size) for e in args.explore for size in args.group_size]}
    baselines: dict[str, Strategy] = {"random all": random_search, "TPE all": tpe_all}
    grid_seeds = range(args.seeds)
    print(f"\ngrid: {len(guided)} guided settings + 2 baselines on seeds {grid_seeds.start}..{grid_seeds.stop - 1}")
    pool = ProcessPoolExecutor(args.jobs, initializer=_start, initargs=(Replay(space, surrogate, budget_s),))
    traces = replay(baselines | guided, pool, grid_seeds)
    best_any = max(t.final_best() for runs in traces.values() for t in runs)
    best_quality = max(final_quality(t) for runs in traces.values() for t in runs)
    targets = Targets(TARGET_SHARE * best_any, TARGET_SHARE * best_quality)
    print(
        f"\ntargets: {TARGET_SHARE:.0%} of the best observed accuracy any run reached ({best_any:.4f}) = "
        f"{targets.observed:.4f}; {TARGET_SHARE:.0%} of the best incumbent quality any run ended with "
        f"({best_quality:.4f}) = {targets.quality:.4f}"
    )
    summaries = print_table("grid (picking seeds)", traces, targets)
    winner = pick(summaries, guided)

    fresh = range(args.seeds, 2 * args.seeds)
    print(f"\npicked: {winner.label}; rerun with the baselines on fresh seeds {fresh.start}..{fresh.stop - 1}")
    confirm = replay(baselines | {winner.label: winner}, pool, fresh)
    pool.shutdown()
    summaries = print_table("confirmation (fresh seeds; same targets)", confirm, targets)
    print(verdict(summaries, winner.label))
    if args.plot:
        plot(confirm, budget_s, HERE / "results" / "tune_best_so_far.png")
    if args.real:
        run_real(space, winner, args.real_budget or budget_s, args.real_seed)


if __name__ == "__main__":
    main()
