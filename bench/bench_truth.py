"""Truth benchmark: how well each importance method recovers KNOWN main-effect shares. Prints figures; not a test.

    .venv/bin/python bench/bench_truth.py                     # quick (a few minutes): n=300,1k, 3 seeds
    .venv/bin/python bench/bench_truth.py --sizes 300,1000,10000,100000 --speed-sizes 10000,100000
    .venv/bin/python bench/bench_truth.py --methods default --block-size 100,200,400 --sizes 1000,10000

Functions and their true shares: bench/truth_functions.py. Methods: "default" is N-RReliefF with
neighbours searched inside arrival-order blocks (`--block-size`, several values give one row each),
"paper" the paper-exact N-RReliefF (block_size=None), "fanova" and "ped-anova" Optuna's evaluators via
importance/compare.py (fANOVA only up to `--fanova-max-n`: it takes ~17 s at 1k, ~12 min at 10k).
N-RReliefF runs with the estimator's own defaults (block size, bootstrap, permutations, alpha) unless
flags say otherwise. Only N-RReliefF gives verdicts, so power and false-positive rates are for its rows only.
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, spearmanr
from truth_functions import (
    CATEGORICAL,
    FUNCTIONS,
    LAYERS,
    NAMES,
    OPTIMIZER,
    RELEVANT,
    SHORT,
    evaluate_study,
    optuna_inputs,
    optuna_study,
)

from importance.evaluator import optuna_importances
from importance.nrrelieff import NRReliefF

OPTUNA_METHODS = ("fanova", "ped-anova")
SIGNAL_FUNCTIONS = ("equal", "unequal", "interaction")
MATTERS = "matters"
NO_EFFECT = "no_detectable_effect"
UNUSED = [j for j in range(len(NAMES)) if j not in RELEVANT]
_DEFAULTS = {name: p.default for name, p in inspect.signature(NRReliefF).parameters.items()}


@dataclass(frozen=True)
class Method:
    label: str
    block_size: int | None = None  # N-RReliefF only
    optuna: str = ""  # an Optuna evaluator name, else N-RReliefF

    @property
    def has_verdicts(self) -> bool:
        return not self.optuna


@dataclass
class Outcome:
    importances: np.ndarray
    verdicts: list[str] | None
    seconds: float


def methods_from(names: Sequence[str], block_sizes: Sequence[int]) -> list[Method]:
    out: list[Method] = []
    for name in names:
        if name == "default":
            many = len(block_sizes) > 1
            out += [Method(f"block={b}" if many else "default", block_size=b) for b in block_sizes]
        elif name == "paper":
            out.append(Method("paper", block_size=None))
        elif name in OPTUNA_METHODS:
            out.append(Method(name, optuna=name))
        else:
            raise SystemExit(f"unknown method {name!r}; known: default, paper, {', '.join(OPTUNA_METHODS)}")
    return out


def nrrelieff(method: Method, seed: int, args: argparse.Namespace) -> NRReliefF:
    return NRReliefF(
        categorical=CATEGORICAL,
        n_bootstrap=args.bootstrap,
        random_state=seed,
        block_size=method.block_size,
        n_permutations=args.permutations,
        alpha=args.alpha,
    )


def run_method(method: Method, X: np.ndarray, y: np.ndarray, seed: int, args: argparse.Namespace) -> Outcome:
    start = time.perf_counter()
    if method.optuna:
        params, distributions = optuna_inputs(X, y)
        found = optuna_importances(method.optuna, params, distributions, y.tolist(), seed=seed)
        return Outcome(np.array([found[n] for n in NAMES]), None, time.perf_counter() - start)
    est = nrrelieff(method, seed, args).fit(X, y)
    return Outcome(np.asarray(est.importances_, dtype=float), list(est.verdicts_), time.perf_counter() - start)


def spearman(truth: np.ndarray, estimate: np.ndarray) -> float:
    if np.ptp(estimate) == 0:
        return 0.0  # a constant estimate ranks nothing
    return float(spearmanr(truth, estimate).statistic)


def within2(estimate: float, truth: float) -> bool:
    return truth / 2 <= estimate <= 2 * truth


def fmt_shares(values: np.ndarray) -> str:
    return " ".join(f"{v:7.3f}" for v in values)


HEAD_SHARES = " ".join(f"{s:>7}" for s in SHORT)


# ---------------------------------------------------------------- recovery of true shares


def recovery(methods: list[Method], sizes: list[int], args: argparse.Namespace) -> None:
    print(
        "\nrho: Spearman of the importances with the true shares, mean over seeds (rho_min: worst seed). Share"
        " columns: mean importance over seeds.\noptim~x2, layers~x2: seeds where the categorical / int effect's"
        " importance is within a factor 2 of its true share."
    )
    for fname in args.functions:
        fn = FUNCTIONS[fname]
        truth = fn.true_shares
        print(f"\n== {fname}: {fn.description}")
        print(f"   true main-effect shares   {HEAD_SHARES}")
        print(f"                             {fmt_shares(truth)}")
        print(
            f"{'method':<10} {'n':>7} {'seeds':>5} {'rho':>6} {'rho_min':>7}   {HEAD_SHARES}"
            f"   {'optim~x2':>8} {'layers~x2':>9} {'s/fit':>7}"
        )
        means: dict[tuple[str, int], np.ndarray] = {}
        power: dict[tuple[str, int], np.ndarray] = {}
        for n in sizes:
            seeds = range(args.seeds_large if n > args.seeds_large_above else args.seeds)
            samples = {s: fn.sample(n, s) for s in seeds}
            for method in methods:
                if method.optuna == "fanova" and n > args.fanova_max_n:
                    continue
                runs = [run_method(method, *samples[s], s, args) for s in seeds]
                imps = np.array([r.importances for r in runs])
                rhos = [spearman(truth, imp) for imp in imps]
                mean = imps.mean(axis=0)
                means[method.label, n] = mean
                cat_ok = sum(within2(i[OPTIMIZER], truth[OPTIMIZER]) for i in imps)
                int_ok = sum(within2(i[LAYERS], truth[LAYERS]) for i in imps)
                print(
                    f"{method.label:<10} {n:>7,} {len(runs):>5} {np.mean(rhos):6.3f} {min(rhos):7.3f}   "
                    f"{fmt_shares(mean)}   {f'{cat_ok}/{len(runs)}':>8} {f'{int_ok}/{len(runs)}':>9}"
                    f" {np.mean([r.seconds for r in runs]):7.2f}",
                    flush=True,
                )
                if all(r.verdicts is not None for r in runs):
                    verdicts = np.array([r.verdicts for r in runs])
                    power[method.label, n] = np.concatenate(
                        [(verdicts == MATTERS).mean(axis=0), (verdicts[:, UNUSED] == NO_EFFECT).mean(axis=0)]
                    )
        if args.fanova_max_n < max(sizes) and any(m.optuna == "fanova" for m in methods):
            print(f"   (fanova run only up to n={args.fanova_max_n:,}: --fanova-max-n)")
        print_drift(methods, sizes, means, truth)
        print_power(methods, sizes, power)


def print_drift(
    methods: list[Method], sizes: list[int], means: dict[tuple[str, int], np.ndarray], truth: np.ndarray
) -> None:
    large = [n for n in sizes if n >= 1000]
    if len(large) < 2:
        return
    lo, hi = large[0], large[-1]
    parts = []
    for method in methods:
        if (method.label, lo) not in means or (method.label, hi) not in means:
            continue
        change = np.abs(means[method.label, hi] - means[method.label, lo])[list(RELEVANT)]
        worst = int(np.argmax(change))
        parts.append(f"{method.label} {change[worst]:.3f} ({SHORT[RELEVANT[worst]]})")
    if parts:
        print(f"   largest drift of a true effect's mean importance, n={lo:,} -> {hi:,}: " + ", ".join(parts))


def print_power(methods: list[Method], sizes: list[int], power: dict[tuple[str, int], np.ndarray]) -> None:
    if not power:
        return
    print(
        f"   power: share of seeds with verdict '{MATTERS}' (u_float, u_cat: false positives);"
        f" last two: share with '{NO_EFFECT}' for u_float, u_cat"
    )
    print(f"   {'method':<10} {'n':>7}   {HEAD_SHARES}   {'u_float':>7} {'u_cat':>7}")
    for method in methods:
        for n in sizes:
            if (method.label, n) in power:
                row = power[method.label, n]
                print(
                    f"   {method.label:<10} {n:>7,}   {fmt_shares(row[: len(NAMES)])}   {fmt_shares(row[len(NAMES) :])}"
                )


# ---------------------------------------------------------------- pure noise


def false_positives(methods: list[Method], sizes: list[int], args: argparse.Namespace) -> None:
    fn = FUNCTIONS["noise"]
    with_verdicts = [m for m in methods if m.has_verdicts]
    print(f"\n== noise: {fn.description}; family-wise false-positive rate of '{MATTERS}' (any of {len(NAMES)})")
    if not with_verdicts:
        print("   n/a: no N-RReliefF method in this run")
        return
    print(
        f"{'method':<10} {'n':>7} {'seeds':>5} {'FWER':>6} {'95% CI':>15} {'matters/seed':>12}"
        f" {'undetermined':>12} {'no_effect':>9} {'s/fit':>7}"
    )
    for n in sizes:
        seeds = range(args.noise_seeds_large if n > args.noise_seeds_large_above else args.noise_seeds)
        samples = {s: fn.sample(n, s) for s in seeds}
        for method in with_verdicts:
            runs = [run_method(method, *samples[s], s, args) for s in seeds]
            verdicts = np.array([r.verdicts for r in runs])
            hits = int((verdicts == MATTERS).any(axis=1).sum())
            ci = binomtest(hits, len(runs)).proportion_ci(method="exact")
            print(
                f"{method.label:<10} {n:>7,} {len(runs):>5} {hits / len(runs):6.3f} "
                f"{f'[{ci.low:.3f}, {ci.high:.3f}]':>15} {(verdicts == MATTERS).sum(axis=1).mean():12.3f}"
                f" {(verdicts == 'undetermined').mean():12.3f} {(verdicts == NO_EFFECT).mean():9.3f}"
                f" {np.mean([r.seconds for r in runs]):7.2f}",
                flush=True,
            )


# ---------------------------------------------------------------- speed


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def speed(methods: list[Method], sizes: list[int], args: argparse.Namespace) -> None:
    ours = [m for m in methods if not m.optuna]
    print(
        f"\n== speed, same data ('unequal', seed 0) and same run: our full fit includes {args.bootstrap} bootstrap CIs"
        f" and {args.permutations} permutation p-values; PED-ANOVA is its evaluator alone (study built untimed)"
    )
    print(
        f"{'method':<10} {'n':>7} {'our fit s':>9} {'PED-ANOVA s':>11} {'PED/ours':>8}"
        f" {'update median ms':>16} {'p99 ms':>8} {'fit/update':>10}"
    )
    fn = FUNCTIONS["unequal"]
    # First calls pay one-time imports (scipy.spatial, optuna's evaluators); a long-lived analyst pays them once.
    X0, y0 = fn.sample(300, 0)
    for method in ours:
        nrrelieff(method, 0, args).fit(X0, y0)
    evaluate_study("ped-anova", optuna_study(*optuna_inputs(X0, y0), y0.tolist()))
    for n in sizes:
        X, y = fn.sample(n + args.updates, 0)
        Xn, yn = X[:n], y[:n]
        study = optuna_study(*optuna_inputs(Xn, yn), yn.tolist())
        ped = float(np.median([timed(evaluate_study, "ped-anova", study) for _ in range(args.repeats)]))
        del study  # ~1 GB at 100k trials
        for method in ours:
            est = nrrelieff(method, 0, args)
            fit = float(np.median([timed(est.fit, Xn, yn) for _ in range(args.repeats)]))
            steps = np.array([timed(est.partial_fit, X[i : i + 1], y[i : i + 1]) for i in range(n, n + args.updates)])
            median, p99 = float(np.median(steps)), float(np.percentile(steps, 99))
            print(
                f"{method.label:<10} {n:>7,} {fit:9.3f} {ped:11.3f} {ped / fit:8.2f}"
                f" {median * 1e3:16.2f} {p99 * 1e3:8.2f} {fit / median:10.0f}",
                flush=True,
            )


def int_list(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default=[300, 1000], help="recovery and noise sizes")
    parser.add_argument("--methods", default="default,paper,fanova,ped-anova")
    parser.add_argument(
        "--block-size",
        type=int_list,
        default=[_DEFAULTS["block_size"]],
        help="one 'default' row per value (default: the estimator's)",
    )
    parser.add_argument("--functions", default=",".join(SIGNAL_FUNCTIONS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per size for recovery and power")
    parser.add_argument("--seeds-large", type=int, default=3, help="seeds above --seeds-large-above")
    parser.add_argument("--seeds-large-above", type=int, default=10_000)
    parser.add_argument("--noise-seeds", type=int, default=100, help="pure-noise seeds per size")
    parser.add_argument("--noise-seeds-large", type=int, default=20, help="pure-noise seeds above the next flag")
    parser.add_argument("--noise-seeds-large-above", type=int, default=10_000)
    parser.add_argument("--fanova-max-n", type=int, default=1000, help="fANOVA is skipped above this size")
    parser.add_argument("--speed-sizes", type=int_list, default=[10_000], help="empty: no speed section")
    parser.add_argument("--updates", type=int, default=200, help="single-trial partial_fit calls timed per size")
    parser.add_argument("--repeats", type=int, default=3, help="full fits timed per size (median)")
    parser.add_argument("--bootstrap", type=int, default=_DEFAULTS["n_bootstrap"])
    parser.add_argument("--permutations", type=int, default=_DEFAULTS["n_permutations"])
    parser.add_argument("--alpha", type=float, default=_DEFAULTS["alpha"])
    parser.add_argument("--skip", default="", help="comma list of sections to skip: recovery,noise,speed")
    args = parser.parse_args()
    args.functions = [f for f in args.functions.split(",") if f]
    methods = methods_from([m for m in args.methods.split(",") if m], args.block_size)
    skip = set(args.skip.split(","))
    print(
        f"default = block_size {','.join(map(str, args.block_size))}; sizes {args.sizes}; seeds {args.seeds}"
        f" (above {args.seeds_large_above:,}: {args.seeds_large}); noise seeds {args.noise_seeds}"
        f" (above {args.noise_seeds_large_above:,}: {args.noise_seeds_large}); bootstrap {args.bootstrap},"
        f" permutations {args.permutations}, alpha {args.alpha}; fANOVA up to n={args.fanova_max_n:,}"
    )
    if "recovery" not in skip:
        recovery(methods, args.sizes, args)
    if "noise" not in skip:
        false_positives(methods, args.sizes, args)
    if "speed" not in skip and args.speed_sizes:
        speed(methods, args.speed_sizes, args)


if __name__ == "__main__":
    main()
