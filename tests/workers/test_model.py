from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from tests.workers.conftest import TINY_CONFIG
from trials.errors import SpecError
from workers.trainer.model import (
    ACTIVATIONS,
    OPTIMIZERS,
    block_filters,
    build_model,
    count_parameters,
    make_optimizer,
)

# Spatial size after each of 5 blocks: pool while the map is >= 2 px, floor division.
SIZES_AFTER_BLOCKS = {8: [4, 2, 1, 1, 1], 28: [14, 7, 3, 1, 1]}


def config(**overrides: Any) -> dict[str, Any]:
    return {**TINY_CONFIG, **overrides}


@pytest.mark.parametrize("image_size", [8, 28])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("layers", [1, 2, 3, 4, 5])
def test_shapes_and_pooling(layers: int, kernel_size: int, image_size: int) -> None:
    model = build_model(config(num_conv_layers=layers, kernel_size=kernel_size), 1, image_size, 10)
    side = SIZES_AFTER_BLOCKS[image_size][layers - 1]
    first_dense = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert first_dense.in_features == block_filters(8, layers)[-1] * side * side
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == sum(
        size >= 2 for size in [image_size, *SIZES_AFTER_BLOCKS[image_size]][:layers]
    )
    assert model(torch.zeros(2, 1, image_size, image_size)).shape == (2, 10)


def test_non_square_input_pools_each_axis_while_it_can() -> None:
    model = build_model(config(num_conv_layers=3), 3, (8, 2), 4)
    assert model(torch.zeros(2, 3, 8, 2)).shape == (2, 4)


def test_filters_double_per_block_and_cap_at_256() -> None:
    assert block_filters(8, 5) == [8, 16, 32, 64, 128]
    assert block_filters(100, 3) == [100, 200, 256]
    model = build_model(config(num_conv_layers=5, num_filters=128), 1, 28, 10)
    assert [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)] == [128, 256, 256, 256, 256]


def test_parameter_count_by_hand() -> None:
    model = build_model(config(num_conv_layers=1, fc_units=16), 1, 8, 10)
    conv = 1 * 8 * 3 * 3 + 8
    dense = (8 * 4 * 4) * 16 + 16
    head = 16 * 10 + 10
    assert count_parameters(model) == conv + dense + head == 2314


def test_frozen_parameters_are_not_counted() -> None:
    model = build_model(config(num_conv_layers=1, fc_units=16), 1, 8, 10)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first_conv.weight.requires_grad_(False)
    assert count_parameters(model) == 2314 - 72


def _one_step(optimizer_name: str, activation: str) -> None:
    torch.manual_seed(0)
    model = build_model(config(activation=activation), 1, 8, 10)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer(optimizer_name, model.parameters(), 1e-2)
    loss = nn.functional.cross_entropy(model(torch.randn(16, 1, 8, 8)), torch.randint(0, 10, (16,)))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_trains_one_step(name: str) -> None:
    _one_step(name, "relu")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_trains_one_step(name: str) -> None:
    _one_step("adam", name)


def test_sgd_uses_momentum() -> None:
    optimizer = make_optimizer("sgd", [nn.Parameter(torch.zeros(1))], 0.1)
    assert optimizer.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("activation", "gelu", "config.activation"), ("optimizer", "lbfgs", "config.optimizer")],
)
def test_unknown_choice_is_a_spec_error(key: str, value: str, field: str) -> None:
    with pytest.raises(SpecError, match=value) as caught:
        model = build_model(config(**{key: value}), 1, 8, 10)
        make_optimizer(value, model.parameters(), 0.1)
    assert caught.value.field == field


def test_missing_hyperparameter_is_named() -> None:
    incomplete = {k: v for k, v in TINY_CONFIG.items() if k != "fc_units"}
    with pytest.raises(SpecError) as caught:
        build_model(incomplete, 1, 8, 10)
    assert caught.value.field == "config.fc_units"
