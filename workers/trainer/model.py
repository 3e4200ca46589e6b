"""The cnn-paper CNN template (docs/architecture.md, "The CNN search space") and its optimizers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from trials.errors import SpecError
from trials.space import Value
from workers.trainer.defaults import LEAKY_RELU_SLOPE, MAX_FILTERS, POOL_MIN_SIZE_PX, SGD_MOMENTUM

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE),
    "tanh": nn.Tanh,
}

OPTIMIZERS: dict[str, Callable[[Iterable[nn.Parameter], float], torch.optim.Optimizer]] = {
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
    "adagrad": lambda params, lr: torch.optim.Adagrad(params, lr=lr),
}


def config_value(config: Mapping[str, Value], name: str) -> Value:
    """A required hyperparameter; a missing one is a SpecError naming it."""
    try:
        return config[name]
    except KeyError:
        raise SpecError(f"config.{name}", f"required by the cnn-paper template, got keys {sorted(config)}") from None


def _choice(table: Mapping[str, object], name: str, value: Value) -> str:
    if value not in table:
        raise SpecError(f"config.{name}", f"must be one of {sorted(table)}, got {value!r}")
    return str(value)


def make_activation(name: Value) -> nn.Module:
    return ACTIVATIONS[_choice(ACTIVATIONS, "activation", name)]()


def block_filters(num_filters: int, num_conv_layers: int) -> list[int]:
    """Output channels per conv block: doubling from num_filters, capped at MAX_FILTERS."""
    return [min(num_filters * 2**block, MAX_FILTERS) for block in range(num_conv_layers)]


def _pooled(size: int) -> int:
    return size // 2 if size >= POOL_MIN_SIZE_PX else size


def build_model(
    config: Mapping[str, Value], in_channels: int, image_size: int | tuple[int, int], n_classes: int
) -> nn.Module:
    """[conv(k, same) → act → max-pool 2 while ≥ 2 px] × L → flatten → dense → act → dropout → dense."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    kernel = int(config_value(config, "kernel_size"))
    activation = config_value(config, "activation")
    filters_per_block = block_filters(
        int(config_value(config, "num_filters")), int(config_value(config, "num_conv_layers"))
    )
    layers: list[nn.Module] = []
    channels = in_channels
    for filters in filters_per_block:
        layers += [nn.Conv2d(channels, filters, kernel, padding="same"), make_activation(activation)]
        # Pooling a 1-px map would be an error; pooling one axis of a thin map is still useful.
        if height >= POOL_MIN_SIZE_PX or width >= POOL_MIN_SIZE_PX:
            layers.append(nn.MaxPool2d(kernel_size=(min(2, height), min(2, width))))
            height, width = _pooled(height), _pooled(width)
        channels = filters
    fc_units = int(config_value(config, "fc_units"))
    layers += [
        nn.Flatten(),
        nn.Linear(channels * height * width, fc_units),
        make_activation(activation),
        nn.Dropout(float(config_value(config, "dropout_rate"))),
        nn.Linear(fc_units, n_classes),
    ]
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(name: Value, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return OPTIMIZERS[_choice(OPTIMIZERS, "optimizer", name)](params, lr)
