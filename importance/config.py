"""How a ranking is computed: every parameter, its default and its meaning, declared once.

The analyst, `sweeprank rank`, the notebook, the Optuna evaluator, a sweep's spec and the ranking
record all take their parameters (and defaults, and help texts) from `RankingConfig`, so the page
and the command line cannot disagree about, say, the stability window.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["anova", "fixed-scale", "paper"]
#: The default ranks by variance shares (importance.anova); the other two by N-RReliefF's weights.
METHODS: tuple[Method, ...] = ("anova", "fixed-scale", "paper")
DEFAULT_METHOD: Method = "anova"


class RankingConfig(BaseModel):
    """The parameters of one ranking (scikit-learn's `get_params`: `model_dump()` lists them all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field(
        default=DEFAULT_METHOD,
        description="anova: each hyperparameter's share of the metric's variance, main effect plus pairwise "
        "interactions, with effects in metric units (default); fixed-scale: N-RReliefF whose answer does not "
        "drift with the trial count; paper: the paper-exact fixed-k N-RReliefF",
    )
    k: int = Field(default=10, ge=1, le=1000, description="neighbours per reference trial (N-RReliefF)")
    sigma: float = Field(default=20.0, gt=0, le=1e6, allow_inf_nan=False, description="rank-weight width")
    bootstrap: int = Field(default=200, ge=0, le=10_000, description="Poisson bootstrap replicates")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="random seed of the bootstrap and tests")
    permutations: int = Field(
        default=100, ge=0, le=100_000, description="permutations per N-RReliefF significance test"
    )
    block_size: int = Field(
        default=50, ge=2, le=1_000_000, description="fixed-scale N-RReliefF: trials per block (paper: one block)"
    )
    window: int = Field(
        default=50, ge=5, le=100_000, description="trials the top-3 order must hold to be called stable"
    )
    delta: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="the smallest difference in the metric's units worth calling an effect: 'no detectable "
        "effect' means no level's mean is farther from the overall mean (default: 0.2 robust SDs of the metric)",
    )

    @property
    def relief_block_size(self) -> int | None:
        """N-RReliefF's block size under this method: None is one block of every trial (the paper method)."""
        return None if self.method == "paper" else self.block_size


def default_of(field: str) -> object:
    """A parameter's declared default, for the places that restate it (a spec field, a form)."""
    return RankingConfig.model_fields[field].default


def description_of(field: str) -> str:
    return RankingConfig.model_fields[field].description or ""
