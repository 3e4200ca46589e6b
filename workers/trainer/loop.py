"""Train one trial, airbench-style: the dataset stays on the device as uint8, batches are
index slices of a per-epoch torch.randperm, normalisation happens per batch on the device,
and there is no DataLoader in the hot loop. Defaults with units live in workers.trainer.defaults.

Outcomes: COMPLETED; CANCELLED (should_stop() true after an epoch); PRUNED (should_prune(metrics)
true after an epoch but the last: the sweep's pruner stopped it, test accuracy scored as it stands); TIMEOUT (soft time
limit, checked after each epoch and every CHECK_EVERY_BATCHES batches); DIVERGED (a
non-finite loss, checked on the same cadence); FAILED (CUDA out of memory, a bad config or
an unavailable dataset). Every outcome keeps the epochs completed so far.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trials.errors import SweeprankError
from trials.specs import EpochMetrics, TrialResult, TrialSpec, TrialStatus
from workers.trainer.data import DataRoots, ImageData, load_dataset
from workers.trainer.defaults import CHECK_EVERY_BATCHES, DATA_SEED, EVAL_BATCH_SIZE
from workers.trainer.model import build_model, config_value, count_parameters, make_optimizer

Batch = tuple[torch.Tensor, torch.Tensor]

# Every time limit and duration reads this clock, so tests can drive time deterministically.
clock: Callable[[], float] = time.perf_counter


def configure_threads(n: int) -> None:
    """Torch threads for a worker child, so that children × threads ≤ cores."""
    torch.set_num_threads(max(1, n))
    # Inter-op threads can be set only before the first parallel op; a child may be past that.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(max(1, n))


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


class Stop(StrEnum):
    """Why an epoch ended early."""

    DIVERGED = "diverged"
    TIMEOUT = "timeout"


@dataclass
class Normaliser:
    """uint8 (N, C, H, W) → float, standardised per channel, in the layout the model runs in."""

    shift: torch.Tensor
    scale: torch.Tensor
    channels_last: bool

    @classmethod
    def for_data(cls, data: ImageData, device: torch.device) -> Normaliser:
        def column(values: tuple[float, ...]) -> torch.Tensor:
            return torch.tensor(values, device=device).view(1, -1, 1, 1) * 255.0

        return cls(column(data.mean), 1.0 / column(data.std), channels_last=device.type == "cuda")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = (images.float() - self.shift) * self.scale
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out


def index_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, normalise: Normaliser, generator: torch.Generator
) -> Iterator[Batch]:
    """Shuffled batches as index slices of on-device tensors; the last batch may be short."""
    order = torch.randperm(len(y), device=y.device, generator=generator)
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        yield normalise(x[idx]), y[idx]


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class EpochOutcome:
    mean_loss: float
    stop: Stop | None = None


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    device: torch.device,
    deadline: float = math.inf,
) -> EpochOutcome:
    """One pass, cut short (with the reason) by a non-finite loss or the deadline.

    The loss is summed on the device and read back only every CHECK_EVERY_BATCHES batches, so the
    GPU is not synchronised per step; a non-finite loss poisons the sum for good, so a sparse check
    still catches it."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    seen = 0
    for step, (inputs, targets) in enumerate(batches, start=1):
        with autocast_for(device):
            loss = F.cross_entropy(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().float() * len(targets)
        seen += len(targets)
        if step % CHECK_EVERY_BATCHES == 0:
            stop = _check(loss_sum, deadline)
            if stop is not None:
                return EpochOutcome(float(loss_sum) / seen, stop)
    return EpochOutcome(float(loss_sum) / max(seen, 1), _check(loss_sum))


def _check(loss_sum: torch.Tensor, deadline: float = math.inf) -> Stop | None:
    if not math.isfinite(float(loss_sum)):
        return Stop.DIVERGED
    return Stop.TIMEOUT if clock() > deadline else None


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalise: Normaliser, device: torch.device) -> float:
    """Accuracy in [0, 1]; correct counts stay on the device until the end."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(y), EVAL_BATCH_SIZE):
        with autocast_for(device):
            logits = model(normalise(x[start : start + EVAL_BATCH_SIZE]))
        correct += (logits.argmax(dim=1) == y[start : start + EVAL_BATCH_SIZE]).sum()
    return int(correct) / max(len(y), 1)


@dataclass
class _Progress:
    """What the trial has achieved so far; becomes the TrialResult whatever the ending."""

    epochs_completed: int = 0
    best_val_accuracy: float | None = None
    final_train_loss: float | None = None
    n_params: int | None = None
    test_accuracy: float | None = None
    reason: str = ""  # why a trial ended early, for TrialResult.error


def run_trial(
    spec: TrialSpec,
    *,
    roots: DataRoots,
    device: str = "cpu",
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    worker: str = "",
    should_prune: Callable[[EpochMetrics], bool] | None = None,
) -> TrialResult:
    """Train spec.config on spec.dataset and return the final word on this attempt.

    Exceptions raised by on_epoch or should_stop propagate: they belong to the caller."""
    started = clock()
    torch_device = torch.device(device)
    progress = _Progress()
    try:
        status = _train(spec, roots, torch_device, progress, started, _Hooks(on_epoch, should_stop, should_prune))
        error = progress.reason
    except (torch.cuda.OutOfMemoryError, SweeprankError) as err:
        status, error = TrialStatus.FAILED, f"{type(err).__name__}: {str(err).splitlines()[0]}"
    if status is TrialStatus.FAILED and torch_device.type == "cuda":
        # Only here, after the except block dropped the traceback and with it the trial's tensors.
        torch.cuda.empty_cache()
    return TrialResult.of(
        spec,
        status,
        test_accuracy=progress.test_accuracy,
        best_val_accuracy=progress.best_val_accuracy,
        final_train_loss=progress.final_train_loss,
        epochs_completed=progress.epochs_completed,
        n_params=progress.n_params,
        wall_time_s=clock() - started,
        device=device_name(torch_device),
        worker=worker,
        error=error,
    )


@dataclass
class _Run:
    """Everything one trial trains with, built once before the first epoch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data: ImageData
    normalise: Normaliser
    device: torch.device
    generator: torch.Generator

    def batches(self, batch_size: int) -> Iterator[Batch]:
        return index_batches(self.data.train_x, self.data.train_y, batch_size, self.normalise, self.generator)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return evaluate(self.model, x, y, self.normalise, self.device)


def _prepare_run(spec: TrialSpec, roots: DataRoots, device: torch.device) -> _Run:
    config = spec.config
    data = load_dataset(
        spec.dataset,
        roots=roots,
        max_train_examples=spec.max_train_examples,
        max_test_examples=spec.max_test_examples,
        seed=DATA_SEED,
        device=str(device),
    )
    torch.manual_seed(spec.seed)
    model = build_model(config, data.in_channels, data.image_size, data.n_classes).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    learning_rate = float(config_value(config, "learning_rate"))
    return _Run(
        model=model,
        optimizer=make_optimizer(config_value(config, "optimizer"), model.parameters(), learning_rate),
        data=data,
        normalise=Normaliser.for_data(data, device),
        device=device,
        generator=torch.Generator(device=device).manual_seed(spec.seed),
    )


@dataclass(frozen=True)
class _Hooks:
    """The caller's say between epochs: where metrics go, whether to stop (cancel, drain) or to prune."""

    on_epoch: Callable[[EpochMetrics], None] | None
    should_stop: Callable[[], bool] | None
    should_prune: Callable[[EpochMetrics], bool] | None


def _train(
    spec: TrialSpec, roots: DataRoots, device: torch.device, progress: _Progress, started: float, hooks: _Hooks
) -> TrialStatus:
    epochs = int(config_value(spec.config, "epochs"))
    batch_size = int(config_value(spec.config, "batch_size"))
    run = _prepare_run(spec, roots, device)
    progress.n_params = count_parameters(run.model)
    deadline = started + spec.limits.soft_time_limit_s

    for epoch in range(1, epochs + 1):
        epoch_started = clock()
        outcome = train_epoch(run.model, run.optimizer, run.batches(batch_size), device, deadline)
        if outcome.stop is Stop.DIVERGED:
            progress.reason = f"non-finite train loss in epoch {epoch}"
            return TrialStatus.DIVERGED
        if outcome.stop is Stop.TIMEOUT:  # mid-epoch: the partial epoch is not recorded
            return _timeout(run, progress, spec, epoch)
        val_accuracy = run.accuracy(run.data.val_x, run.data.val_y)
        _record_epoch(progress, outcome.mean_loss, val_accuracy)
        metrics = _epoch_metrics(spec, epoch, outcome.mean_loss, val_accuracy, clock() - epoch_started)
        if hooks.on_epoch is not None:
            hooks.on_epoch(metrics)
        if epoch == epochs:
            break
        if hooks.should_stop is not None and hooks.should_stop():
            return _finish(run, progress, TrialStatus.CANCELLED)
        if hooks.should_prune is not None and hooks.should_prune(metrics):
            progress.reason = f"pruned after epoch {epoch} of {epochs} by the sweep's pruner"
            return _finish(run, progress, TrialStatus.PRUNED)
        if clock() > deadline:
            return _timeout(run, progress, spec, epoch)
    return _finish(run, progress, TrialStatus.COMPLETED)


def _record_epoch(progress: _Progress, train_loss: float, val_accuracy: float) -> None:
    progress.epochs_completed += 1
    progress.final_train_loss = train_loss
    progress.best_val_accuracy = max(val_accuracy, progress.best_val_accuracy or 0.0)


def _epoch_metrics(spec: TrialSpec, epoch: int, train_loss: float, val_accuracy: float, seconds: float) -> EpochMetrics:
    return EpochMetrics(
        sweep_id=spec.sweep_id,
        trial_id=spec.trial_id,
        attempt=spec.attempt,
        epoch=epoch,
        train_loss=train_loss,
        val_accuracy=val_accuracy,
        seconds=seconds,
    )


def _finish(run: _Run, progress: _Progress, status: TrialStatus) -> TrialStatus:
    """Score the weights as they stand: a cut-short trial still has a usable model."""
    progress.test_accuracy = run.accuracy(run.data.test_x, run.data.test_y)
    return status


def _timeout(run: _Run, progress: _Progress, spec: TrialSpec, epoch: int) -> TrialStatus:
    progress.reason = f"soft time limit of {spec.limits.soft_time_limit_s:g} s reached in epoch {epoch}"
    return _finish(run, progress, TrialStatus.TIMEOUT)
