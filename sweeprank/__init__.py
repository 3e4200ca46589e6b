"""sweeprank command line: the composition root that starts and talks to the stack.

The library's public names: `sweeprank.rank(table, metric=...)` ranks a table of trials in a notebook
(offline/notebook.py); `sweeprank.NRReliefFImportanceEvaluator` is an Optuna importance evaluator
(offline/optuna_evaluator.py), loaded on first use so that `import sweeprank` does not import optuna.
"""

from typing import Any

from offline.notebook import rank

__all__ = ["NRReliefFImportanceEvaluator", "rank"]


def __getattr__(name: str) -> Any:
    if name == "NRReliefFImportanceEvaluator":
        from offline.optuna_evaluator import NRReliefFImportanceEvaluator

        return NRReliefFImportanceEvaluator
    raise AttributeError(f"module 'sweeprank' has no attribute {name!r}")
