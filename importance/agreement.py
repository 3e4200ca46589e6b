"""How far per-dataset rankings agree: Kendall's W and whether the pooled top k holds on each dataset.

Kendall's coefficient of concordance W (Kendall & Babington Smith 1939) is 1
when every dataset ranks the hyperparameters identically and near 0 when the
rankings are unrelated; ties (equal importances, e.g. several zeros) get
their mean rank and the tie correction. "Top k holds" means the dataset's own
k most important hyperparameters are the pooled top k, as a set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from importance import ranking_record

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Agreement:
    kendall_w: float
    n_groups: int
    top_k: int
    top_held: int
    sentence: str

    def record(self) -> ranking_record.Agreement:
        return ranking_record.Agreement(
            kendall_w=self.kendall_w,
            n_groups=self.n_groups,
            top_k=self.top_k,
            top_held=self.top_held,
            sentence=self.sentence,
        )


def kendalls_w(importances: FloatArray) -> float:
    """W of (groups, items) scores, higher score = more important; tie-corrected."""
    m, n = importances.shape
    if m < 2 or n < 2:
        return float("nan")
    ranks = np.vstack([rankdata(-row) for row in importances])
    spread = ((ranks.sum(axis=0) - m * (n + 1) / 2.0) ** 2).sum()
    ties = sum(((counts**3) - counts).sum() for counts in (np.unique(row, return_counts=True)[1] for row in ranks))
    denominator = m**2 * (n**3 - n) - m * ties
    return float(12.0 * spread / denominator) if denominator > 0 else float("nan")


def agreement(
    names: Sequence[str], per_group: dict[str, FloatArray], pooled_top: Sequence[int], top_k: int = 3
) -> Agreement | None:
    """None with fewer than two groups; `pooled_top`: the pooled ranking's positive entries, best first."""
    if len(per_group) < 2:
        return None
    matrix = np.vstack(list(per_group.values()))
    k = min(top_k, len(pooled_top))
    if k == 0:
        return Agreement(
            kendalls_w(matrix), len(per_group), 0, 0, "No hyperparameter has a positive pooled importance."
        )
    top = set(int(i) for i in pooled_top[:k])
    held = [group for group, row in per_group.items() if set(np.argsort(-row, kind="stable")[:k].tolist()) == top]
    w = kendalls_w(matrix)
    words = ", ".join(names[i] for i in pooled_top[:k])
    sentence = (
        f"The pooled top {k} ({words}) holds on {len(held)} of {len(per_group)} datasets; "
        f"Kendall's W = {w:.2f} across datasets (1 = identical rankings, 0 = unrelated)."
    )
    return Agreement(w, len(per_group), k, len(held), sentence)
