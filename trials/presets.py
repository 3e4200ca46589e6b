"""Named search spaces shipped with sweeprank, read from the YAML files beside this module."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from trials.errors import SpecError
from trials.space import SearchSpace

PRESETS = ("cnn-paper",)

#: The paper's top five, in order, with the importances it reports where printed.
PAPER_TOP5: tuple[tuple[str, float | None], ...] = (
    ("num_conv_layers", 0.385),
    ("learning_rate", 0.228),
    ("dropout_rate", 0.131),
    ("optimizer", None),
    ("epochs", None),
)


def preset_path(name: str) -> Path:
    if name not in PRESETS:
        raise SpecError("space", f"unknown preset {name!r}; known presets: {list(PRESETS)}")
    return Path(str(resources.files("trials") / "spaces" / f"{name}.yaml"))


def load_space_file(path: str | Path) -> SearchSpace:
    """Read a space file (YAML or JSON); errors name the file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(str(path), f"cannot read space file: {err}".splitlines()[0]) from None
    return SearchSpace.from_dict(raw)


@cache
def preset(name: str) -> SearchSpace:
    """A shipped space, read once per process (every spec validation resolves it; spaces are immutable)."""
    return load_space_file(preset_path(name))
