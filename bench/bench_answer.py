"""The right answer on real sweeps: the default ranking against fANOVA, PED-ANOVA and N-RReliefF. Prints figures.

    .venv/bin/python bench/bench_answer.py                          # about 10 minutes on 2 cores
    .venv/bin/python bench/bench_answer.py --sizes 300,1000,10000 --seeds 5 --fanova-max-n 1000

Cases (bench/answer_data.py): synthetic metrics with exact first-order and total shares; the committed
2,000-trial random digits sweep with its table of group means as reference; the digits full grid
(bench/collect_digits_grid.py, real training through the product) with exact shares from averaging.
For each, on the same samples:
- rho_S, rho_T: Spearman of the importances with the exact first-order and total shares (mean over seeds);
- false "no effect": a hyperparameter with a first-order share >= 0.03 or a total share >= 0.10 called
  no_detectable_effect (count over seeds x hyperparameters); recall: `matters` for first-order >= 0.05;
- null -> no effect: the share of exactly-null hyperparameters that get no_detectable_effect;
- top pair: whether the exact top interacting pair is among the reported top 3 (anova only: it reports pairs).
Then: the per-hyperparameter false-alarm rate of an independent random column added to the digits sweep, the
family-wise rate on pure noise, drift from 1k to 100k, and speed like for like at 10k.
Only anova and N-RReliefF give verdicts.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from answer_data import CASES, Case, Grid, digits_grid, digits_sweep
from scipy.stats import spearmanr

from importance.anova import AnovaRanking
from importance.evaluator import optuna_importances
from importance.nrrelieff import NRReliefF

MATTERS, NO_EFFECT = "matters", "no_detectable_effect"
VERDICT_METHODS = ("anova", "fixed-scale")
OPTUNA = ("fanova", "ped-anova")


@dataclass
class Result:
    importances: np.ndarray
    verdicts: list[str] | None
    top_pairs: list[tuple[int, int]]
    seconds: float


def run(
    method: str,
    X: np.ndarray,
    y: np.ndarray,
    categorical: Sequence[bool],
    levels: Sequence[int | None],
    seed: int,
    names: Sequence[str],
) -> Result:
    start = time.perf_counter()
    if method == "anova":
        est = AnovaRanking(categorical, n_bootstrap=50, random_state=seed).fit(X, y)
        entry: dict = {}
        est.add_effects(entry, list(names))  # type: ignore[arg-type]
        pairs = [(names.index(p["first"]), names.index(p["second"])) for p in entry["interactions"][:3]]
        return Result(est.importances_, list(est.verdicts_.verdicts), pairs, time.perf_counter() - start)
    if method == "fixed-scale":
        relief = NRReliefF(categorical=categorical, n_bootstrap=50, random_state=seed).fit(X, y)
        return Result(relief.importances_, list(relief.verdicts_), [], time.perf_counter() - start)
    params, distributions = optuna_view(X, categorical, levels, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = optuna_importances(method, params, distributions, y.tolist(), seed=seed)
    return Result(np.array([found[n] for n in names]), None, [], time.perf_counter() - start)


def optuna_view(
    X: np.ndarray, categorical: Sequence[bool], levels: Sequence[int | None], names: Sequence[str]
) -> tuple[list[dict], dict]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    distributions = {
        n: CategoricalDistribution(list(range(int(levels[j] or 2)))) if categorical[j] else FloatDistribution(0.0, 1.0)
        for j, n in enumerate(names)
    }
    params = [
        {
            n: (int(v) if categorical[j] else float(v))
            for j, (n, v) in enumerate(zip(names, row, strict=True))
            if np.isfinite(v)
        }
        for row in X
    ]
    return params, distributions


def spearman(truth: np.ndarray, estimate: np.ndarray) -> float:
    if np.ptp(estimate) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(spearmanr(truth, estimate).statistic)


def score(results: list[Result], main: np.ndarray, total: np.ndarray, top_pair: tuple[int, int] | None) -> str:
    rho_s = np.nanmean([spearman(main, r.importances) for r in results])
    rho_t = np.nanmean([spearman(total, r.importances) for r in results])
    line = f"rho_S {rho_s:5.2f}  rho_T {rho_t:5.2f}"
    if results[0].verdicts is not None:
        verdicts = np.array([r.verdicts for r in results])
        big = (main >= 0.03) | (total >= 0.10)
        false_no = int((verdicts[:, big] == NO_EFFECT).sum())
        strong = main >= 0.05
        recall = (verdicts[:, strong] == MATTERS).mean() if strong.any() else float("nan")
        null = total <= 1e-9
        reached = (verdicts[:, null] == NO_EFFECT).mean() if null.any() else float("nan")
        line += f"  false-no-effect {false_no:2d}  recall {recall:4.2f}  null->no-effect {reached:4.2f}"
    if top_pair is not None and results[0].top_pairs:
        found = sum(top_pair in [tuple(sorted(p)) for p in r.top_pairs] for r in results)
        line += f"  top pair {found}/{len(results)}"
    return line + f"  {np.mean([r.seconds for r in results]):6.2f} s/fit"


def exact_top_pair(case: Case) -> tuple[int, int] | None:
    """The pair whose interaction is largest: T_i - S_i shared by two hyperparameters (synthetic: by design)."""
    return (0, 1) if case.name == "interaction" else (0, 3) if case.name == "cnn_like" else None


def synthetic(args: argparse.Namespace) -> None:
    print("\n######## synthetic metrics with exact shares")
    for case in (CASES[c] for c in args.cases):
        print(f"\n== {case.name}: {case.description}")
        print("   names  " + " ".join(f"{n:>8}" for n in case.names))
        print("   S      " + " ".join(f"{v:8.3f}" for v in case.main))
        print("   T      " + " ".join(f"{v:8.3f}" for v in case.total))
        for n in args.sizes:
            samples = [case.sample(n, seed) for seed in range(args.seeds)]
            for method in args.methods:
                if method == "fanova" and n > args.fanova_max_n:
                    continue
                results = [
                    run(method, X, y, case.categorical, case.levels, s, case.names) for s, (X, y) in enumerate(samples)
                ]
                print(
                    f"{method:>11} n={n:>6,}  {score(results, case.main, case.total, exact_top_pair(case))}", flush=True
                )


def noise_rate(args: argparse.Namespace) -> None:
    case = CASES["noise"]
    print("\n######## pure noise: family-wise false `matters` (any hyperparameter)")
    for n in (300, 1000):
        for method in VERDICT_METHODS:
            hits = sum(
                MATTERS
                in (run(method, *case.sample(n, 1000 + s), case.categorical, case.levels, s, case.names).verdicts or [])
                for s in range(args.noise_repeats)
            )
            print(f"{method:>11} n={n:>5}: {hits}/{args.noise_repeats} = {hits / args.noise_repeats:.3f}", flush=True)


def encode_digits(
    names: list[str], rows: list[dict[str, str]]
) -> tuple[np.ndarray, np.ndarray, list[bool], list[int | None]]:
    from trials.encoding import encode_config
    from trials.presets import preset

    space = preset("cnn-paper")
    X = np.array(
        [
            encode_config(space, {n: space.params[space.names.index(n)].validate(_cell(r[n])) for n in names})
            for r in rows
        ]
    )
    y = np.array([float(r["test_accuracy"]) for r in rows])
    categorical = [getattr(p, "kind", "") == "categorical" for p in space.params]
    levels: list[int | None] = [len(p.choices) if hasattr(p, "choices") else None for p in space.params]
    return X, y, categorical, levels


def _cell(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def group_means_table(
    names: list[str], rows: list[dict[str, str]], y: np.ndarray, X: np.ndarray, categorical: list[bool]
) -> np.ndarray:
    """The reference: share of variance explained by each hyperparameter's group means (8 bins for floats)."""
    from importance.effects import EffectTables

    tables = EffectTables(np.array(categorical))
    tables.add(X, y)
    return tables.decompose(0, 0).mains.share()


def digits_real(args: argparse.Namespace) -> None:
    names, rows = digits_sweep()
    X, y, categorical, levels = encode_digits(names, rows)
    reference = group_means_table(names, rows, y, X, categorical)
    print(f"\n######## the digits random sweep ({len(y)} trials), reference: one-way group-means shares")
    print("   names     " + " ".join(f"{n[:8]:>8}" for n in names))
    print("   reference " + " ".join(f"{v:8.3f}" for v in reference))
    for method in args.methods:
        r = run(method, X, y, categorical, levels, 0, names)
        print(
            f"{method:>11}   "
            + " ".join(f"{v:8.3f}" for v in r.importances)
            + f"   rho vs reference {spearman(reference, r.importances):5.2f}"
        )
        if r.verdicts:
            print(" " * 14 + " ".join(f"{v[:8]:>8}" for v in r.verdicts))
            false = [n for n, v, s in zip(names, r.verdicts, reference, strict=True) if v == NO_EFFECT and s >= 0.03]
            print(" " * 14 + f"no_detectable_effect with a group-means share >= 0.03: {false or 'none'}")
    print("\n   an independent random column added to the sweep (per-hyperparameter false alarms):")
    rng = np.random.default_rng(7)
    for kind, make in (
        ("3-level", lambda: rng.integers(0, 3, len(y)).astype(float)),
        ("float", lambda: rng.random(len(y))),
    ):
        hits = 0
        for s in range(args.column_repeats):
            extra = make()
            Xe = np.column_stack([X, extra])
            r = AnovaRanking([*categorical, kind == "3-level"], n_bootstrap=0, random_state=s).fit(Xe, y)
            hits += r.verdicts_.verdicts[-1] == MATTERS
        print(f"   anova, {kind} column: `matters` in {hits}/{args.column_repeats}")


def grid_truth(args: argparse.Namespace, grid: Grid | None) -> None:
    if grid is None:
        print("\n(no bench/data/digits_grid.csv: run bench/collect_digits_grid.py for the full-grid case)")
        return
    main, total, pairs = grid.exact()
    top = max(pairs, key=lambda p: pairs[p])
    print(f"\n######## the digits full grid ({len(grid.codes)} configs x {grid.metric.shape[1]} seeds, real training)")
    print("   names  " + " ".join(f"{n[:8]:>8}" for n in grid.names))
    print("   S      " + " ".join(f"{v:8.3f}" for v in main))
    print("   T      " + " ".join(f"{v:8.3f}" for v in total))
    print(
        f"   top pair {grid.names[top[0]]} x {grid.names[top[1]]}: {pairs[top]:.3f}; seed noise share "
        f"{float(grid.metric.var(axis=1).mean() / grid.metric.var()):.3f}"
    )
    categorical = [n == "optimizer" for n in grid.names]
    levels = [len(level) for level in grid.levels]
    for n in args.grid_sizes:
        samples = []
        for seed in range(args.seeds):
            codes, y = grid.sample(n, seed)
            X = np.where(categorical, codes, codes / 2.0).astype(np.float64)
            samples.append((X, y))
        for method in args.methods:
            if method == "fanova" and n > args.fanova_max_n:
                continue
            results = [run(method, X, y, categorical, levels, s, grid.names) for s, (X, y) in enumerate(samples)]
            print(f"{method:>11} n={n:>6,}  {score(results, main, total, top)}", flush=True)


def drift(args: argparse.Namespace) -> None:
    case = CASES["cnn_like"]
    print("\n######## drift of the default importances from 1k to 100k (cnn_like, mean over 3 seeds)")
    means = {}
    for n in (1000, 100_000):
        means[n] = np.mean(
            [
                AnovaRanking(case.categorical, n_bootstrap=0, random_state=s).fit(*case.sample(n, s)).importances_
                for s in range(3)
            ],
            axis=0,
        )
    print(f"   max |I(100k) - I(1k)| = {np.abs(means[100_000] - means[1000]).max():.3f}")


def speed(args: argparse.Namespace) -> None:
    case = CASES["cnn_like"]
    X, y = case.sample(10_000, 0)
    print("\n######## speed at 10,000 trials (cnn_like, 8 hyperparameters), like for like, this machine now")
    start = time.perf_counter()
    est = AnovaRanking(case.categorical, n_bootstrap=200).fit(X, y)
    entry: dict = {}
    est.add_effects(entry, list(case.names))  # type: ignore[arg-type]
    full = time.perf_counter() - start
    ped = run("ped-anova", X, y, case.categorical, case.levels, 0, case.names).seconds
    print(
        f"   full fit with CIs, tests, effects, interactions: {full:.2f} s; PED-ANOVA evaluator {ped:.2f} s; "
        f"ratio {full / ped:.2f}"
    )
    est = AnovaRanking(case.categorical, n_bootstrap=200).fit(X[:-200], y[:-200])
    relief = NRReliefF(categorical=case.categorical, n_bootstrap=200).fit(X[:-200], y[:-200])
    for name, model in (("anova", est), ("fixed-scale N-RReliefF", relief)):
        times = []
        for i in range(len(y) - 200, len(y)):
            t = time.perf_counter()
            model.partial_fit(X[i : i + 1], y[i : i + 1])
            times.append(time.perf_counter() - t)
        print(
            f"   incremental update, {name}: median {1000 * np.median(times):.2f} ms, "
            f"p90 {1000 * np.quantile(times, 0.9):.2f} ms"
        )


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="u_cat,conditional,divergent,interaction,cnn_like,lr_opt")
    parser.add_argument("--methods", default="anova,fixed-scale,fanova,ped-anova")
    parser.add_argument("--sizes", type=int_list, default=[300, 1000])
    parser.add_argument("--grid-sizes", type=int_list, default=[300, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fanova-max-n", type=int, default=1000)
    parser.add_argument("--noise-repeats", type=int, default=100)
    parser.add_argument("--column-repeats", type=int, default=40)
    parser.add_argument("--parts", default="synthetic,noise,digits,grid,drift,speed")
    args = parser.parse_args()
    args.cases = args.cases.split(",")
    args.methods = args.methods.split(",")
    parts = args.parts.split(",")
    if "grid" in parts:
        grid_truth(args, digits_grid())
    if "digits" in parts:
        digits_real(args)
    if "synthetic" in parts:
        synthetic(args)
    if "noise" in parts:
        noise_rate(args)
    if "drift" in parts:
        drift(args)
    if "speed" in parts:
        speed(args)


if __name__ == "__main__":
    main()
