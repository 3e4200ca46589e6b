"""When has a live ranking stopped changing?

A ranking is called stable when its top-k order has stayed the same for at
least `window` trials AND, inside that top k, each hyperparameter's 95% CI lies
strictly above the next one's (ci_low of rank r > ci_high of rank r + 1). The
first condition alone would call a ranking of noise stable once the sweep
slows down; the second alone ignores that the estimate is still moving.

Only hyperparameters with a positive importance take part: those at zero are
tied (their order among themselves is by raw W and means nothing), so a top 3
of which the third is 0 is a settled top 2, not "overlapping CIs". The tracker
sees every update, so `stable_since` is the exact trial count at which the
current order appeared.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from importance.ranking_record import Stability


@dataclass
class StabilityTracker:
    """Feed it every new ranking with `update`; read `stable`, `stable_since`, `sentence()`."""

    window: int  # importance.config.RankingConfig.window: one default for the page and the command line
    top_k: int = 3
    names: Sequence[str] | None = None
    _order: tuple[int, ...] | None = field(default=None, init=False)
    _order_since: int = field(default=0, init=False)
    _n_trials: int = field(default=0, init=False)
    _overlaps: list[tuple[int, int]] = field(default_factory=list, init=False)

    def update(
        self,
        n_trials: int,
        ranking: npt.ArrayLike,
        ci_low: npt.ArrayLike,
        ci_high: npt.ArrayLike,
        importances: npt.ArrayLike | None = None,
    ) -> None:
        ranked = np.asarray(ranking)
        if importances is not None:
            share = np.asarray(importances, dtype=float)
            ranked = ranked[share[ranked] > 0.0]
        order = tuple(int(i) for i in ranked[: self.top_k])
        if order != self._order:
            self._order, self._order_since = order, n_trials
        self._n_trials = n_trials
        low, high = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
        self._overlaps = [(upper, lower) for upper, lower in itertools.pairwise(order) if not low[upper] > high[lower]]

    @property
    def unchanged_for(self) -> int:
        return self._n_trials - self._order_since

    @property
    def stable(self) -> bool:
        return bool(self._order) and self.unchanged_for >= self.window and not self._overlaps

    @property
    def stable_since(self) -> int | None:
        """The trial count at which the current (stable) top-k order first appeared."""
        return self._order_since if self.stable else None

    def _name(self, index: int) -> str:
        return self.names[index] if self.names is not None else f"#{index}"

    def sentence(self) -> str:
        if self._order is None:
            return "No ranking yet."
        if not self._order:
            return "Nothing to settle: no hyperparameter has a positive importance."
        top = " > ".join(self._name(i) for i in self._order)
        k = len(self._order)
        if self.stable:
            return (
                f"Stable since trial {self._order_since}: top-{k} order ({top}) unchanged for "
                f"{self.unchanged_for} trials and adjacent 95% CIs do not overlap."
            )
        reasons = []
        if self.unchanged_for < self.window:
            reasons.append(
                f"top-{k} order ({top}) unchanged for {self.unchanged_for} trials since trial "
                f"{self._order_since}, needs {self.window}"
            )
        reasons.extend(f"CIs of {self._name(a)} and {self._name(b)} overlap" for a, b in self._overlaps)
        return "Not stable yet: " + "; ".join(reasons) + "."

    def state(self) -> Stability:
        """The read-out (`settled` is `stable`, named for a finished sweep)."""
        return Stability(
            stable=self.stable,
            settled=self.stable,
            stable_since=self.stable_since,
            top_k=list(self._order or ()),
            unchanged_for=self.unchanged_for,
            window=self.window,
            sentence=self.sentence(),
        )
