"""Surrogates of a real digits sweep: test accuracy and log(trainer-seconds) from the 10 hyperparameters.

Gradient-boosted trees (scikit-learn's HistGradientBoostingRegressor) on an ordinal encoding:
numeric hyperparameters as their value (log10 where the space samples them on a log scale),
ordinals as their position, categoricals as native categories of the trees. Both models are
scored on a 20 % hold-out, then refitted on every row for the replay. A replayed trial adds a
residual drawn from the hold-out residuals to each prediction (independently for accuracy and
time), so two seeds differ by more than the configs their samplers draw, as real repeats do.
Accuracy residuals are drawn from the NEIGHBOURS hold-out trials predicted closest to the
prediction: a net near 97 % is not as noisy as one on the edge of learning at all. Those residuals
mix the surrogate's own error with seed noise, so a replayed accuracy is capped at the best
accuracy the real sweep measured; uncapped, lucky draws report 100 % test accuracies that no
trial ever reached.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

FloatArray = npt.NDArray[np.float64]
# A diverged trial leaves no usable model: it scores what a constant guess scores on 10 balanced classes.
CHANCE_ACCURACY = 0.1
HOLD_OUT = 0.2
NEIGHBOURS = 25


@dataclass(frozen=True)
class Observed:
    """One row of the sweep's CSV: the config and what the trainer measured."""

    config: dict[str, Value]
    status: str
    test_accuracy: float
    seconds: float


def read_sweep(path: Path, space: SearchSpace) -> list[Observed]:
    """Completed and diverged trials (a diverged one at chance accuracy); other outcomes are dropped."""
    rows = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            if raw["status"] not in ("completed", "diverged"):
                continue
            config = {p.name: p.validate(_cell(p, raw[p.name])) for p in space.params}
            accuracy = float(raw["test_accuracy"]) if raw["test_accuracy"] else CHANCE_ACCURACY
            rows.append(Observed(config, raw["status"], accuracy, float(raw["wall_time_s"])))
    return rows


def _cell(param: NumericParam | ChoiceParam, text: str) -> object:
    if isinstance(param, ChoiceParam):
        return next(choice for choice in param.choices if str(choice) == text)
    return int(text) if param.kind == "int" else float(text)


def encode(space: SearchSpace, configs: Sequence[Mapping[str, Value]]) -> FloatArray:
    columns = []
    for p in space.params:
        if isinstance(p, ChoiceParam):
            columns.append([float(p.choices.index(c[p.name])) for c in configs])
        else:
            columns.append([math.log10(float(c[p.name])) if p.log else float(c[p.name]) for c in configs])
    return np.array(columns, dtype=np.float64).T


def categorical_mask(space: SearchSpace) -> list[bool]:
    return [isinstance(p, ChoiceParam) and p.kind == "categorical" for p in space.params]


@dataclass(frozen=True)
class HeldOutError:
    mae: float
    r2: float


@dataclass
class Surrogate:
    """evaluate(config) -> (accuracy, trainer-seconds) with resampled hold-out noise."""

    space: SearchSpace
    accuracy_model: HistGradientBoostingRegressor
    log_seconds_model: HistGradientBoostingRegressor
    ceiling: float  # the best test accuracy the real sweep measured
    accuracy_predicted: FloatArray  # hold-out predictions, ascending, with their residuals below
    accuracy_residuals: FloatArray
    log_seconds_residuals: FloatArray
    accuracy_error: HeldOutError
    log_seconds_error: HeldOutError
    seconds_error: HeldOutError

    # Seed noise measured by real repeats (tune_seed_noise.py): (mean accuracy, sd) ordered by mean. When set,
    # a replayed accuracy is the clipped noise-free prediction plus Normal(0, sd at that accuracy) instead of a
    # hold-out residual, which mixes in the model's own error.
    seed_noise: tuple[list[float], list[float]] | None = None

    def evaluate(self, config: Mapping[str, Value], rng: np.random.Generator) -> tuple[float, float]:
        x = encode(self.space, [config])
        predicted = float(self.accuracy_model.predict(x)[0])
        if self.seed_noise is not None:
            mean = min(self.ceiling, max(0.0, predicted))
            accuracy = mean + float(rng.normal(0.0, np.interp(mean, *self.seed_noise)))
        else:
            accuracy = predicted + self._accuracy_residual(predicted, rng)
        log_seconds = float(self.log_seconds_model.predict(x)[0]) + float(rng.choice(self.log_seconds_residuals))
        return min(self.ceiling, max(0.0, accuracy)), math.exp(log_seconds)

    def mean_accuracy(self, config: Mapping[str, Value]) -> float:
        """The surrogate's accuracy for `config` without noise: how good a config is, not how lucky a draw was."""
        return float(self.accuracy_model.predict(encode(self.space, [config]))[0])

    def quality(self, configs: list[dict[str, Value]]) -> list[float]:
        """Noise-free accuracies clipped to what the real sweep measured (boosted trees extrapolate past 1)."""
        if not configs:
            return []
        predicted = self.accuracy_model.predict(encode(self.space, configs))
        return [float(q) for q in np.clip(predicted, 0.0, self.ceiling)]

    def _accuracy_residual(self, predicted: float, rng: np.random.Generator) -> float:
        at = int(np.searchsorted(self.accuracy_predicted, predicted))
        start = min(max(0, at - NEIGHBOURS // 2), max(0, len(self.accuracy_predicted) - NEIGHBOURS))
        return float(rng.choice(self.accuracy_residuals[start : start + NEIGHBOURS]))


def _model(space: SearchSpace, seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        categorical_features=categorical_mask(space), max_iter=150, learning_rate=0.1, random_state=seed
    )


def fit_surrogate(space: SearchSpace, rows: list[Observed], seed: int = 0) -> Surrogate:
    x = encode(space, [r.config for r in rows])
    accuracy = np.array([r.test_accuracy for r in rows])
    log_seconds = np.log(np.array([r.seconds for r in rows]))
    x_fit, x_out, acc_fit, acc_out, sec_fit, sec_out = train_test_split(
        x, accuracy, log_seconds, test_size=HOLD_OUT, random_state=seed
    )
    acc_pred = _model(space, seed).fit(x_fit, acc_fit).predict(x_out)
    sec_pred = _model(space, seed).fit(x_fit, sec_fit).predict(x_out)
    order = np.argsort(acc_pred)
    return Surrogate(
        space=space,
        accuracy_model=_model(space, seed).fit(x, accuracy),
        log_seconds_model=_model(space, seed).fit(x, log_seconds),
        ceiling=float(accuracy.max()),
        accuracy_predicted=acc_pred[order],
        accuracy_residuals=(acc_out - acc_pred)[order],
        log_seconds_residuals=sec_out - sec_pred,
        accuracy_error=HeldOutError(mean_absolute_error(acc_out, acc_pred), r2_score(acc_out, acc_pred)),
        log_seconds_error=HeldOutError(mean_absolute_error(sec_out, sec_pred), r2_score(sec_out, sec_pred)),
        seconds_error=HeldOutError(
            mean_absolute_error(np.exp(sec_out), np.exp(sec_pred)), r2_score(np.exp(sec_out), np.exp(sec_pred))
        ),
    )
