"""Hyperparameter importance: N-RReliefF (batch and incremental), bootstrap, stability, pooling.

numpy, and scipy for ranks, the significance tests' distributions and the neighbour search; Optuna comparators are
imported lazily in `importance.compare`.

Import the modules themselves (`importance.groups`, `importance.nrrelieff`, ...). This package
re-exports nothing: every service reads `importance.config` through `trials.specs`, and names
imported here would load scipy's statistics into each of them at start-up.
"""
