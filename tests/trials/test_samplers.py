"""Samplers: reproducible, inside the space, covering it."""

from __future__ import annotations

import pytest

from trials.presets import preset
from trials.samplers import sample_configs


@pytest.mark.parametrize("sampler", ["random", "sobol", "lhs", "grid"])
def test_samplers_are_seeded_and_valid(sampler: str) -> None:
    space = preset("cnn-paper")
    first = sample_configs(space, 37, sampler, seed=3)  # type: ignore[arg-type]
    assert first == sample_configs(space, 37, sampler, seed=3)  # type: ignore[arg-type]
    assert first != sample_configs(space, 37, sampler, seed=4)  # type: ignore[arg-type]
    assert len(first) == 37
    for config in first:
        assert space.validate_config(config) == config


@pytest.mark.parametrize("sampler", ["sobol", "lhs"])
def test_space_filling_samplers_cover_every_choice(sampler: str) -> None:
    space = preset("cnn-paper")
    configs = sample_configs(space, 64, sampler, seed=0)  # type: ignore[arg-type]
    assert {c["optimizer"] for c in configs} == {"sgd", "adam", "rmsprop", "adagrad"}
    assert {c["num_conv_layers"] for c in configs} == {1, 2, 3, 4, 5}


def test_grid_has_no_duplicates_and_spans_each_axis() -> None:
    space = preset("cnn-paper").narrow({"activation": {"choices": ["relu"]}, "optimizer": {"choices": ["adam"]}})
    configs = sample_configs(space, 500, "grid", seed=0)
    assert len({tuple(sorted(c.items())) for c in configs}) == 500
    lrs = {c["learning_rate"] for c in sample_configs(space, 10_000, "grid", seed=0)}
    assert min(lrs) == pytest.approx(1e-5) and max(lrs) == pytest.approx(1e-1)
