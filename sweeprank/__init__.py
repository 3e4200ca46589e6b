"""sweeprank command line: the composition root that starts and talks to the stack.

The library's public names: `sweeprank.rank(table, metric=...)` ranks a table of trials in a notebook
(offline/notebook.py); `sweeprank.NRReliefFImportanceEvaluator` is an Optuna importance evaluator
(offline/optuna_evaluator.py). Both are loaded on first use: every command imports this package, and
neither the ranking library (scipy) nor optuna is needed to start a service.
"""

from typing import Any

__all__ = ["NRReliefFImportanceEvaluator", "rank"]


def __getattr__(name: str) -> Any:
    if name == "rank":
        from offline.notebook import rank

        return rank
    if name == "NRReliefFImportanceEvaluator":
        from offline.optuna_evaluator import NRReliefFImportanceEvaluator

        return NRReliefFImportanceEvaluator
    raise AttributeError(f"module 'sweeprank' has no attribute {name!r}")
