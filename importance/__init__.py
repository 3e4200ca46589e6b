"""Hyperparameter importance: N-RReliefF (batch and incremental), bootstrap, stability, pooling.

numpy-only (scipy for the neighbour search); Optuna comparators are imported
lazily in `importance.compare`.
"""

from importance.groups import POOLED, GroupedRanking
from importance.nrrelieff import NRReliefF
from importance.stability import StabilityTracker

__all__ = ["POOLED", "GroupedRanking", "NRReliefF", "StabilityTracker"]
