"""Decoded datasets saved as torch files under the data root's cache, so the next process reads them at once.

A process that trains pays for a dataset's preparation once per cache file, not once per trainer child:
decoding a lab's image folder takes minutes, and splitting sklearn's digits imports sklearn (two seconds).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

# train_x, train_y, test_x, test_y, n_classes: the fields of workers.trainer.data.RawImages.
Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]


def cached(cache_root: Path | None, name: str, compute: Callable[[], Arrays]) -> Arrays:
    """The arrays saved as `name` under `cache_root`, else `compute()` saved there (None: no cache).

    A cache that cannot be written is skipped."""
    if cache_root is None:
        return compute()
    path = cache_root / name
    if path.is_file():
        try:
            train_x, train_y, test_x, test_y, n_classes = torch.load(path, weights_only=True)
            return train_x, train_y, test_x, test_y, int(n_classes)
        except Exception:  # a damaged file (a full disk, a hand edit): prepared and written anew
            pass
    arrays = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: trainers on one host may prepare the same dataset at once.
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        with os.fdopen(handle, "wb") as out:
            torch.save(arrays, out)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only data root: every process prepares the dataset itself, as without a cache
    return arrays
