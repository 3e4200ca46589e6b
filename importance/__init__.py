"""Hyperparameter importance: N-RReliefF (batch and incremental), bootstrap, stability, pooling.

numpy-only (scipy for the neighbour search); Optuna comparators are imported
lazily in `importance.compare`. Nothing is imported here: every process reads `importance.config` (through trial specs),
and the estimators bring scipy (0.4 s of a trainer's start-up).
"""
