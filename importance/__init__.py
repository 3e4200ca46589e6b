"""Hyperparameter importance: N-RReliefF (batch and incremental), bootstrap, stability, pooling.

numpy-only (scipy for the neighbour search); Optuna comparators are imported
lazily in `importance.compare`. Nothing is imported here: the command line reads `importance.config` on every run,
and the rest pulls in scipy (a second of start-up).
"""
