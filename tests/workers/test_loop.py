from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from broker.settings import Settings
from tests.workers.conftest import SpecFactory, limits
from trials.specs import EpochMetrics, TrialStatus
from workers.trainer import loop
from workers.trainer.data import DataRoots
from workers.trainer.loop import configure_threads, run_trial
from workers.trainer.model import build_model, count_parameters


@pytest.mark.slow
def test_completed_trial_on_digits(make_spec: SpecFactory, roots: DataRoots) -> None:
    seen: list[EpochMetrics] = []
    spec = make_spec(epochs=3)
    result = run_trial(spec, on_epoch=seen.append, worker="w1", roots=roots)
    assert result.status is TrialStatus.COMPLETED and result.error == ""
    assert [m.epoch for m in seen] == [1, 2, 3]
    assert all(m.trial_id == 7 and m.sweep_id == "sw" and m.seconds > 0 for m in seen)
    assert result.epochs_completed == 3
    assert result.test_accuracy is not None and result.test_accuracy > 0.5  # chance is 0.1
    assert result.best_val_accuracy == max(m.val_accuracy for m in seen)
    assert result.final_train_loss == seen[-1].train_loss < seen[0].train_loss
    assert result.n_params == count_parameters(build_model(spec.config, 1, 8, 10))
    assert (result.device, result.worker, result.dataset) == ("cpu", "w1", "digits")
    assert result.wall_time_s >= sum(m.seconds for m in seen)


@pytest.mark.slow
def test_should_stop_cancels_after_the_epoch_keeping_the_curve(make_spec: SpecFactory, roots: DataRoots) -> None:
    seen: list[EpochMetrics] = []
    result = run_trial(make_spec(epochs=4), on_epoch=seen.append, should_stop=lambda: len(seen) >= 2, roots=roots)
    assert result.status is TrialStatus.CANCELLED
    assert result.epochs_completed == 2 and [m.epoch for m in seen] == [1, 2]
    assert result.final_train_loss == seen[-1].train_loss and result.test_accuracy is not None


@pytest.mark.slow
def test_should_stop_false_lets_the_trial_complete(make_spec: SpecFactory, roots: DataRoots) -> None:
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return False

    result = run_trial(make_spec(epochs=3), should_stop=should_stop, roots=roots)
    assert result.status is TrialStatus.COMPLETED
    assert len(asked) == 2  # after every epoch that has a successor


def test_huge_learning_rate_diverges_at_once(make_spec: SpecFactory, roots: DataRoots) -> None:
    seen: list[EpochMetrics] = []
    result = run_trial(make_spec(optimizer="sgd", learning_rate=1e6, epochs=5), on_epoch=seen.append, roots=roots)
    assert result.status is TrialStatus.DIVERGED
    assert seen == [] and result.epochs_completed == 0 and result.test_accuracy is None
    assert "non-finite" in result.error


class FakeClock:
    """Stands still unless advanced, so a time limit trips exactly where a test says."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow
def test_soft_time_limit_between_epochs_keeps_the_curve(
    make_spec: SpecFactory, roots: DataRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeClock()
    monkeypatch.setattr(loop, "clock", fake)
    seen: list[EpochMetrics] = []

    def slow_consumer(metrics: EpochMetrics) -> None:
        seen.append(metrics)
        fake.now += 10.0

    result = run_trial(make_spec(epochs=5, limits=limits(5.0)), on_epoch=slow_consumer, roots=roots)
    assert result.status is TrialStatus.TIMEOUT
    assert result.epochs_completed == len(seen) == 1
    assert result.final_train_loss == seen[0].train_loss and result.test_accuracy is not None
    assert "soft time limit of 5 s reached in epoch 1" in result.error


def test_soft_time_limit_is_checked_mid_epoch(
    make_spec: SpecFactory, roots: DataRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(range(0, 10_000, 100))  # every reading is 100 s later: the first mid-epoch check trips
    monkeypatch.setattr(loop, "clock", lambda: float(next(ticks)))
    seen: list[EpochMetrics] = []
    result = run_trial(make_spec(epochs=5, batch_size=32, limits=limits(150.0)), on_epoch=seen.append, roots=roots)
    assert result.status is TrialStatus.TIMEOUT
    assert result.epochs_completed == 0 and seen == [] and "epoch 1" in result.error


@pytest.mark.slow
def test_same_seed_same_result(make_spec: SpecFactory, roots: DataRoots) -> None:
    def curve(seed: int) -> list[tuple[float, float]]:
        seen: list[EpochMetrics] = []
        run_trial(make_spec(seed=seed), on_epoch=seen.append, roots=roots)
        return [(m.train_loss, m.val_accuracy) for m in seen]

    assert curve(5) == curve(5)
    assert curve(5) != curve(6)


def test_cuda_out_of_memory_fails_with_the_reason(
    make_spec: SpecFactory, roots: DataRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(loop, "train_epoch", out_of_memory)
    result = run_trial(make_spec(), roots=roots)
    assert result.status is TrialStatus.FAILED
    assert result.error == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"


def test_unavailable_dataset_fails_the_trial(
    make_spec: SpecFactory, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPRANK_TORCHVISION_DIR", str(tmp_path))
    result = run_trial(make_spec(dataset="cifar10"), roots=DataRoots.of(Settings()))
    assert result.status is TrialStatus.FAILED and result.error.startswith("DatasetUnavailable")


def test_missing_hyperparameter_fails_the_trial(make_spec: SpecFactory, roots: DataRoots) -> None:
    spec = make_spec()
    spec.config.pop("epochs")
    result = run_trial(spec, roots=roots)
    assert result.status is TrialStatus.FAILED and "config.epochs" in result.error


def test_configure_threads() -> None:
    before = torch.get_num_threads()
    try:
        configure_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_package_import_does_not_import_torch() -> None:
    code = "import sys, workers.trainer, workers.trainer.defaults; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
