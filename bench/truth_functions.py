"""Synthetic metrics with KNOWN main-effect variance shares, for bench_truth.py and its CI test.

The space has one hyperparameter of every kind (a log-scaled float, a float, an
int with 5 levels, an ordinal with 4 levels, a categorical with 4 levels) plus
two that the metric never reads (a float and a 3-level categorical). X holds
what `trials.encoding` makes of such configs: unit positions on the declared
range (log10 for the learning rate) and integer codes for categoricals, so
every estimator sees exactly what the product would give it.

Truth. The main-effect variance of attribute j is V_j = Var(E[f | x_j]) of the
noise-free signal f; its true share is V_j / sum_B V_B (observation noise and
interaction variance are in neither). E[f | x_j = v] is the mean of f with
column j set to v over one fixed Monte Carlo sample of 5,000 rows (the same
rows for every v and every j); v runs over all levels of a discrete column, or
200 midpoints of [0, 1] for a continuous one, so a continuous column costs
10^6 evaluations of f. Sharing the rows makes an additive effect exact up to
the midpoint rule (shares within 1e-4 of the designed ones: the other terms add
the same constant to every v) and an unused column's V 0 up to rounding; only
the interaction function's shares carry Monte Carlo error (they move by up to
0.005 between Monte Carlo seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from trials.encoding import EncodedTrials, optuna_view
from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

FloatArray = npt.NDArray[np.float64]

SPACE = SearchSpace(
    (
        NumericParam("learning_rate", "float", 1e-5, 1e-1, log=True),
        NumericParam("dropout", "float", 0.0, 0.5),
        NumericParam("num_layers", "int", 1, 5),
        ChoiceParam("batch_size", "ordinal", (16, 32, 64, 128)),
        ChoiceParam("optimizer", "categorical", ("sgd", "adam", "rmsprop", "adagrad")),
        NumericParam("unused_float", "float", 0.0, 1.0),
        ChoiceParam("unused_cat", "categorical", ("relu", "gelu", "tanh")),
    )
)
NAMES = SPACE.names
SHORT = ("lr", "drop", "layers", "batch", "optim", "u_float", "u_cat")
KINDS = ("log-float", "float", "int", "ordinal", "categorical", "irrelevant", "irrelevant")
CATEGORICAL = np.array([False, False, False, False, True, False, True])
LEVELS: tuple[int | None, ...] = (None, None, 5, 4, 4, None, 3)  # None: continuous
LR, DROPOUT, LAYERS, BATCH, OPTIMIZER, UNUSED_FLOAT, UNUSED_CAT = range(7)
RELEVANT = (LR, DROPOUT, LAYERS, BATCH, OPTIMIZER)

_GRID = 200
_MC_ROWS = 5000
_TRUTH_SEED = 20_241_008
_QUADRATURE = 100_000  # midpoints used to standardise a continuous effect shape


def sample_inputs(n: int, seed: int) -> FloatArray:
    """n random configs as the encoded matrix (uniform on the unit range, uniform over levels)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, len(LEVELS)))
    for j, levels in enumerate(LEVELS):
        if levels is None:
            X[:, j] = rng.random(n)
        else:
            codes = rng.integers(0, levels, n).astype(np.float64)
            X[:, j] = codes if CATEGORICAL[j] else codes / (levels - 1)
    return X


def _support(j: int) -> FloatArray:
    """Equally likely values of column j (midpoint grid for a continuous one)."""
    levels = LEVELS[j]
    if levels is None:
        return (np.arange(_GRID) + 0.5) / _GRID
    codes = np.arange(levels, dtype=np.float64)
    return codes if CATEGORICAL[j] else codes / (levels - 1)


# ---------------------------------------------------------------- effect shapes (higher metric is better)

_OPTIMIZER_VALUES = np.array([0.0, 1.0, 0.75, 0.3])  # sgd, adam, rmsprop, adagrad: not monotone in the codes
_BATCH_VALUES = np.array([0.0, -0.1, -0.35, -1.0])  # 16 .. 128: larger batches hurt, more and more


def _shape_lr(u: FloatArray) -> FloatArray:
    return -(((u - 0.55) / 0.45) ** 2)  # U-shape in log10(lr): best near 1.6e-3


def _shape_dropout(u: FloatArray) -> FloatArray:
    return -(u**2)


def _shape_layers(u: FloatArray) -> FloatArray:
    return 1.0 - np.exp(-1.2 * 4.0 * u)  # saturating gain over 1..5 layers


def _shape_batch(u: FloatArray) -> FloatArray:
    return _BATCH_VALUES[np.rint(u * 3).astype(np.intp)]


def _shape_optimizer(code: FloatArray) -> FloatArray:
    return _OPTIMIZER_VALUES[code.astype(np.intp)]


_SHAPES: dict[int, Callable[[FloatArray], FloatArray]] = {
    LR: _shape_lr,
    DROPOUT: _shape_dropout,
    LAYERS: _shape_layers,
    BATCH: _shape_batch,
    OPTIMIZER: _shape_optimizer,
}


@cache
def _moments(j: int) -> tuple[float, float]:
    support = (np.arange(_QUADRATURE) + 0.5) / _QUADRATURE if LEVELS[j] is None else _support(j)
    values = _SHAPES[j](support)
    return float(values.mean()), float(values.std())


def effect(j: int, column: FloatArray) -> FloatArray:
    """Shape of attribute j standardised to mean 0, variance 1 over its marginal."""
    mean, sd = _moments(j)
    return (_SHAPES[j](column) - mean) / sd


def additive(shares: Sequence[float]) -> Callable[[FloatArray], FloatArray]:
    """f = sum_j sqrt(share_j) * effect_j: main-effect variance of j is share_j by construction."""
    weights = np.sqrt(np.asarray(shares, dtype=np.float64))

    def signal(X: FloatArray) -> FloatArray:
        total = np.zeros(len(X))
        for j, w in zip(RELEVANT, weights, strict=True):
            total += w * effect(j, X[:, j])
        return total

    return signal


_LR_PEAK_BY_OPTIMIZER = np.array([0.8, 0.4, 0.5, 0.65])  # sgd wants a larger lr than adam


def _interaction_signal(X: FloatArray) -> FloatArray:
    """Realistic interactions: the best learning rate depends on the optimizer, deep nets need dropout."""
    u_lr, u_drop, u_layers = X[:, LR], X[:, DROPOUT], X[:, LAYERS]
    peak = _LR_PEAK_BY_OPTIMIZER[X[:, OPTIMIZER].astype(np.intp)]
    lr_term = -(((u_lr - peak) / 0.45) ** 2)
    depth_dropout = 3.0 * (u_layers - 0.5) * (u_drop - 0.4)
    return (
        0.9 * lr_term
        + 0.5 * effect(OPTIMIZER, X[:, OPTIMIZER])
        + 0.45 * effect(LAYERS, X[:, LAYERS])
        + 0.25 * effect(DROPOUT, X[:, DROPOUT])
        + 0.3 * effect(BATCH, X[:, BATCH])
        + depth_dropout
    )


@dataclass(frozen=True)
class TruthFunction:
    """A synthetic metric: noise-free signal (None: pure noise) plus Gaussian observation noise."""

    name: str
    description: str
    signal: Callable[[FloatArray], FloatArray] | None
    noise_share: float = 0.2  # observation-noise variance / metric variance

    def sample(self, n: int, seed: int) -> tuple[FloatArray, FloatArray]:
        X = sample_inputs(n, seed)
        noise = np.random.default_rng([seed, 1]).standard_normal(n)
        if self.signal is None:
            return X, noise
        signal_var = truth(self.name).signal_variance
        noise_sd = np.sqrt(signal_var * self.noise_share / (1.0 - self.noise_share))
        return X, self.signal(X) + noise_sd * noise

    @property
    def true_shares(self) -> FloatArray:
        return truth(self.name).shares


@dataclass(frozen=True)
class Truth:
    shares: FloatArray  # main-effect variance shares, sum 1 (all 0 for pure noise)
    main_variances: FloatArray
    signal_variance: float  # Var f: main effects plus interactions

    @property
    def interaction_share(self) -> float:
        """Share of the signal variance not explained by main effects."""
        total = self.signal_variance
        return 0.0 if total == 0 else max(0.0, 1.0 - float(self.main_variances.sum()) / total)


FUNCTIONS: dict[str, TruthFunction] = {
    f.name: f
    for f in (
        TruthFunction("equal", "additive, equal shares (0.2) on all five kinds", additive([0.2] * 5)),
        TruthFunction(
            "unequal",
            "additive, shares lr .35 layers .25 optim .18 drop .14 batch .08",
            additive([0.35, 0.14, 0.25, 0.08, 0.18]),
        ),
        TruthFunction(
            "interaction", "lr x optimizer (optimum moves) and layers x dropout interactions", _interaction_signal
        ),
        TruthFunction("noise", "pure noise: y independent of X", None),
    )
}


@cache
def truth(name: str) -> Truth:
    """True main-effect shares of FUNCTIONS[name] by Monte Carlo decomposition (module docstring)."""
    fn = FUNCTIONS[name].signal
    a = len(LEVELS)
    if fn is None:
        return Truth(np.zeros(a), np.zeros(a), 0.0)
    base = sample_inputs(_MC_ROWS, _TRUTH_SEED)
    variances = np.zeros(a)
    for j in range(a):
        X = base.copy()
        means = []
        for v in _support(j):
            X[:, j] = v
            means.append(fn(X).mean())
        variances[j] = np.var(means)
    total = float(np.var(fn(sample_inputs(1_000_000, _TRUTH_SEED + 1))))
    return Truth(variances / variances.sum(), variances, total)


# ---------------------------------------------------------------- views for other consumers


def decode(X: FloatArray) -> list[dict[str, Value]]:
    """The configs whose encoding is X (values on the declared ranges)."""
    columns: list[list[Value]] = []
    for j, param in enumerate(SPACE.params):
        u = X[:, j]
        if isinstance(param, ChoiceParam):
            codes = u if CATEGORICAL[j] else u * (len(param.choices) - 1)
            columns.append([param.choices[int(c)] for c in np.rint(codes).astype(np.intp)])
        elif param.kind == "int":
            columns.append([int(v) for v in np.rint(param.low + u * (param.high - param.low))])
        elif param.log:
            lo, hi = np.log10(param.low), np.log10(param.high)
            columns.append([float(v) for v in np.clip(10 ** (lo + u * (hi - lo)), param.low, param.high)])
        else:
            columns.append([float(v) for v in param.low + u * (param.high - param.low)])
    return [dict(zip(NAMES, row, strict=True)) for row in zip(*columns, strict=True)]


def optuna_inputs(X: FloatArray, y: FloatArray) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Params and distributions for `importance.compare`, through the product's own Optuna view."""
    encoded = EncodedTrials(NAMES, CATEGORICAL, X, y, [str(i) for i in range(len(y))], [""] * len(y), decode(X))
    return optuna_view(SPACE, encoded)


def optuna_study(params: Sequence[dict[str, Any]], distributions: dict[str, Any], values: Sequence[float]) -> Any:
    """An in-memory study of finished trials, built as `importance.compare` builds it (to time evaluators alone)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(p), distributions=dict(distributions), value=float(v))
            for p, v in zip(params, values, strict=True)
        ]
    )
    return study


def evaluate_study(method: str, study: Any, seed: int = 0) -> dict[str, float]:
    """Raw importances of one Optuna evaluator on a built study (the part `importance.compare` times add to it)."""
    import warnings

    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    evaluator = FanovaImportanceEvaluator(seed=seed) if method == "fanova" else PedAnovaImportanceEvaluator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=False)
    return {name: float(value) for name, value in found.items()}
