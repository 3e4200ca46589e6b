"""Shared vocabulary of sweeprank: spaces, specs, results, statuses, encodings."""

from trials.errors import SpecError, SweeprankError
from trials.space import ChoiceParam, NumericParam, SearchSpace

__all__ = ["ChoiceParam", "NumericParam", "SearchSpace", "SpecError", "SweeprankError"]
