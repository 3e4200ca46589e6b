"""Fixtures for the trainer tests: no network at all, tiny trial specs, an offline tfds dataset."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.settings import Settings
from trials.specs import TrialLimits, TrialSpec
from workers.trainer.data import DataRoots

TINY_CONFIG: dict[str, Any] = {
    "num_conv_layers": 2,
    "num_filters": 8,
    "kernel_size": 3,
    "activation": "relu",
    "fc_units": 32,
    "dropout_rate": 0.1,
    "learning_rate": 1e-2,
    "optimizer": "adam",
    "batch_size": 64,
    "epochs": 2,
}

SpecFactory = Callable[..., TrialSpec]


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise OSError("network access is disabled in the trainer tests")


@pytest.fixture(scope="package", autouse=True)
def no_network() -> Iterator[None]:
    """Any attempt to reach the network fails at once instead of hanging (tfds waits ≈204 s).

    Package scope: the patch must be in place before the package-scoped tfds build, and undone
    before tests of other packages (which may talk to a local Redis) run."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "create_connection", _refuse)
        patch.setattr(socket, "getaddrinfo", _refuse)
        yield


@pytest.fixture
def roots() -> DataRoots:
    """Where the trainer reads datasets: the defaults (digits ships with sklearn, Fashion-MNIST with Debian)."""
    return DataRoots.of(Settings())


@pytest.fixture
def make_spec() -> SpecFactory:
    """A TrialSpec on digits with TINY_CONFIG; keyword arguments override config keys or spec fields."""

    def make(**overrides: Any) -> TrialSpec:
        config = {**TINY_CONFIG, **{k: v for k, v in overrides.items() if k in TINY_CONFIG}}
        fields = {k: v for k, v in overrides.items() if k not in TINY_CONFIG}
        return TrialSpec(
            **{"sweep_id": "sw", "trial_id": 7, "dataset": "digits", "seed": 3, "config": config, **fields}
        )

    return make


def limits(soft_s: float) -> TrialLimits:
    return TrialLimits(soft_time_limit_s=soft_s, hard_time_limit_s=soft_s + 60)


@pytest.fixture(scope="package")
def tfds_dir(tmp_path_factory: pytest.TempPathFactory, no_network: None) -> Path:
    """tiny_shapes prepared offline as array_record, once for the package."""
    from tests.workers.tfds_fixture.tiny_shapes import build

    return build(tmp_path_factory.mktemp("tfds"))
