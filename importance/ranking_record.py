"""The ranking as importance returns it, and as the record stores, the API serves and the pages read it.

One schema, no mirror: the estimators build these models, the analyst stores them inside
`trials.records.RankingRecord`, and every reader (page, CLI, notebook, exports) reads them.
A group's ranking is a list of rows, one per hyperparameter, most important first: a new
per-hyperparameter field is one field of `HyperparameterRank`, filled where it is computed.

Values that can be NaN (unknown) are null: a NaN or infinity given to a `Number` field becomes None,
so a record survives a JSON round trip unchanged. Fields added after records were first stored have
defaults, and records stored as parallel lists (before the rows) are read into rows, so older stored
records still load.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

#: The group key of the ranking pooled over datasets.
POOLED: Final = "pooled"
MATTERS: Final = "matters"
NO_DETECTABLE_EFFECT: Final = "no_detectable_effect"
UNDETERMINED: Final = "undetermined"
Verdict = Literal["matters", "no_detectable_effect", "undetermined"]
PairVerdict = Literal["matters", "undetermined"]


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


#: A float that may be unknown: stored and served as null, never as NaN.
Number = Annotated[float | None, AfterValidator(_finite_or_none)]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stability(Record):
    """Whether the top-k order has held (importance.stability.StabilityTracker)."""

    stable: bool
    settled: bool  # same as `stable`; records from before it was written take `stable`
    stable_since: int | None
    top_k: list[int]
    unchanged_for: int
    window: int
    sentence: str

    @model_validator(mode="before")
    @classmethod
    def _settled_defaults_to_stable(cls, data: Any) -> Any:
        if isinstance(data, dict) and "settled" not in data and "stable" in data:
            return {**data, "settled": data["stable"]}
        return data


class Agreement(Record):
    """How far the per-dataset rankings agree (pooled group only, two or more datasets)."""

    kendall_w: Number
    n_groups: int
    top_k: int
    top_held: int
    sentence: str


class EffectLevel(Record):
    """One level of a hyperparameter with the mean metric of its trials (95% CI), in the metric's own units."""

    key: int  # a categorical's code, a numeric hyperparameter's bin, -1 for "not applicable"
    label: str = ""  # the values the level holds ("32", "1e-05 – 3.2e-05", "n/a")
    n: int
    mean: Number
    ci_low: Number
    ci_high: Number
    u_min: Number = None
    u_max: Number = None


class LargestDifference(Record):
    """The largest difference between two levels' means (to minus from), with a 95% CI, in metric units."""

    from_key: int
    to_key: int
    from_label: str = ""
    to_label: str = ""
    difference: Number
    ci_low: Number
    ci_high: Number


class Effect(Record):
    """One hyperparameter's effect in metric units and its variance shares (the anova method)."""

    main_share: Number
    main_ci: list[Number]
    total_share: Number
    p_main: Number
    relief_weight: Number  # N-RReliefF's raw W (fixed-scale), shown beside the shares
    equivalence_bound: Number  # no level's mean is farther from the overall mean (95% simultaneous); null: unknown
    levels: list[EffectLevel]
    largest: LargestDifference | None


class Interaction(Record):
    """One pair's interaction share (95% CI) and test; the top pairs carry their table of cell means."""

    first: str
    second: str
    share: Number
    ci_low: Number
    ci_high: Number
    p_value: Number
    p_adjusted: Number
    verdict: PairVerdict
    first_keys: list[int] | None = None
    second_keys: list[int] | None = None
    first_labels: list[str] | None = None
    second_labels: list[str] | None = None
    cell_means: list[list[Number]] | None = None
    cell_counts: list[list[int]] | None = None


class HyperparameterRank(Record):
    """One hyperparameter's row of a group's ranking."""

    name: str
    rank: int  # 1 is the most important
    importance: Number
    ci_low: Number  # 95% bootstrap interval of the importance
    ci_high: Number
    rank_probability: Number  # P(this rank) over the bootstrap replicates
    raw_weight: Number  # the method's unnormalised score: the variance share (anova) or N-RReliefF's W
    p_value: Number = None
    p_adjusted: Number = None  # Holm over the group's tests
    verdict: Verdict | None = None
    detectable: Number = None  # N-RReliefF: the importance a test would detect with 80% power
    effect: Effect | None = None  # the anova method, per dataset: in the metric's units


class RankingGroup(Record):
    """One group's ranking: a row per hyperparameter, most important first, and what holds for the group."""

    n_trials: int
    method: str | None = None  # the importance method (anova, fixed-scale, paper); older records lack it
    rows: list[HyperparameterRank]
    verdict_note: str = ""  # why verdicts are not given yet (too few trials)
    tested_at: int | None = None
    stability: Stability
    message: str = ""
    agreement: Agreement | None = None
    # The anova method, per dataset (the pooled group has none: each dataset's metric has its own units).
    delta: Number = None  # "no detectable effect": no level's mean is farther than this from the overall mean
    metric_mean: Number = None
    metric_sd: Number = None
    interactions: list[Interaction] | None = None
    design_note: str = ""  # what the effects can mean under the sweep's sampler

    @property
    def ranking(self) -> list[str]:
        """The names, most important first."""
        return [row.name for row in self.rows]

    def row(self, name: str) -> HyperparameterRank:
        return next(row for row in self.rows if row.name == name)

    @property
    def has_effects(self) -> bool:
        """Whether the rows carry effects in metric units (the anova method, per dataset)."""
        return any(row.effect is not None for row in self.rows)

    def importances(self) -> dict[str, float | None]:
        """Each hyperparameter's importance by name, most important first."""
        return {row.name: row.importance for row in self.rows}

    def with_verdict(self, verdict: str) -> list[str]:
        """The names whose verdict is `verdict`, most important first."""
        return [row.name for row in self.rows if row.verdict == verdict]

    @model_validator(mode="before")
    @classmethod
    def _rows_from_parallel_lists(cls, data: Any) -> Any:
        """Records stored before the rows held one list per field, aligned with `names`."""
        if not isinstance(data, dict) or "rows" in data or "names" not in data:
            return data
        names = data["names"]
        effects = {effect.pop("name"): effect for effect in (dict(e) for e in data.get("effects") or [])}

        def column(field: str) -> list[Any]:
            return data.get(field) or [None] * len(names)

        fields: tuple[str, ...] = ("importances", "ci_low", "ci_high", "rank_probability", "raw_weights")
        fields += ("p_values", "p_adjusted", "verdicts", "detectable")
        values = {field: column(field) for field in fields}
        rows = [
            {
                "name": name,
                "rank": data["ranking"].index(name) + 1,
                "importance": values["importances"][i],
                "ci_low": values["ci_low"][i],
                "ci_high": values["ci_high"][i],
                "rank_probability": values["rank_probability"][i],
                "raw_weight": values["raw_weights"][i],
                "p_value": values["p_values"][i],
                "p_adjusted": values["p_adjusted"][i],
                "verdict": values["verdicts"][i],
                "detectable": values["detectable"][i],
                "effect": effects.get(name),
            }
            for i, name in enumerate(names)
        ]
        rest = {key: value for key, value in data.items() if key not in {*fields, "names", "ranking", "effects"}}
        return {**rest, "rows": sorted(rows, key=lambda row: row["rank"])}
