"""Trials per minute of the on-device index-batch loop against a typical DataLoader loop.

Both arms train the same random cnn-paper configs (capped to demo sizes) on the same
subsampled data with the same training step (workers.trainer.loop.train_epoch); only the
batch source differs. The baseline is what a typical user writes: a Dataset whose
__getitem__ turns each image into a PIL image, then ToTensor and Normalize (as torchvision's
MNIST datasets do), fed through a shuffling DataLoader (num_workers=0, its default).
Arms alternate per trial so that machine noise hits both. Not a test; prints a ratio.

    .venv/bin/python bench/bench_trainer.py [--trials 8] [--train 2000] [--test 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from broker.settings import process_settings
from trials.presets import preset
from trials.samplers import sample_configs
from trials.space import Value
from trials.specs import TrialLimits, TrialSpec, TrialStatus
from workers.trainer.data import DataRoots, ImageData, load_dataset
from workers.trainer.defaults import DATA_SEED
from workers.trainer.loop import Normaliser, configure_threads, index_batches, run_trial, train_epoch
from workers.trainer.model import build_model, make_optimizer

DEMO_CAPS: dict[str, dict[str, object]] = {
    "num_conv_layers": {"high": 3},
    "num_filters": {"high": 32},
    "fc_units": {"high": 256},
    # Kept clear of divergence: a diverged trial stops early in one arm only.
    "learning_rate": {"low": 1e-4, "high": 1e-2},
    "epochs": {"high": 2},
}


class PerSampleImages(Dataset[tuple[torch.Tensor, int]]):
    """The typical user's dataset: one PIL image and per-sample transforms per item."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.x, self.y = x.cpu(), y.cpu()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.x[index].permute(1, 2, 0).squeeze(-1).numpy())
        return self.transform(image), int(self.y[index])


def dataloader_trial(spec: TrialSpec, data: ImageData) -> float:
    """The same trial through DataLoaders; returns test accuracy."""
    torch.manual_seed(spec.seed)
    config = spec.config
    model = build_model(config, data.in_channels, data.image_size, data.n_classes)
    optimizer = make_optimizer(config["optimizer"], model.parameters(), float(config["learning_rate"]))
    train = DataLoader(
        PerSampleImages(data.train_x, data.train_y, data.mean, data.std),
        batch_size=int(config["batch_size"]),
        shuffle=True,
    )
    for _ in range(int(config["epochs"])):
        train_epoch(model, optimizer, train, torch.device("cpu"))
        loader_accuracy(model, PerSampleImages(data.val_x, data.val_y, data.mean, data.std))
    return loader_accuracy(model, PerSampleImages(data.test_x, data.test_y, data.mean, data.std))


@torch.no_grad()
def loader_accuracy(model: torch.nn.Module, dataset: PerSampleImages) -> float:
    model.eval()
    correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(dataset, batch_size=1024))
    return correct / len(dataset)


def pipeline_ratio(data: ImageData, batch_size: int, epochs: int = 3) -> tuple[float, float]:
    """Seconds per epoch of batches alone (no model): index slices vs DataLoader."""
    normalise = Normaliser.for_data(data, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(PerSampleImages(data.train_x, data.train_y, data.mean, data.std), batch_size, shuffle=True)

    def drain(make: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]) -> float:
        started = time.perf_counter()
        for _ in range(epochs):
            for _batch in make():
                pass
        return (time.perf_counter() - started) / epochs

    index_s = drain(lambda: index_batches(data.train_x, data.train_y, batch_size, normalise, generator))
    return index_s, drain(lambda: loader)


def timed(run: Callable[[], float]) -> tuple[float, float]:
    started = time.perf_counter()
    accuracy = run()
    return time.perf_counter() - started, accuracy


def index_trial(spec: TrialSpec, roots: DataRoots) -> float:
    result = run_trial(spec, roots=roots)
    if result.status is not TrialStatus.COMPLETED or result.test_accuracy is None:
        raise RuntimeError(f"benchmark trial did not complete: {result.status} {result.error}")
    return result.test_accuracy


def specs(args: argparse.Namespace) -> list[TrialSpec]:
    space = preset("cnn-paper").narrow(DEMO_CAPS)
    configs: list[dict[str, Value]] = sample_configs(space, args.trials + 1, "random", args.seed)
    return [
        TrialSpec(
            sweep_id="bench",
            trial_id=i,
            dataset=args.dataset,
            config=config,
            seed=args.seed + i,
            max_train_examples=args.train,
            max_test_examples=args.test,
            limits=TrialLimits(soft_time_limit_s=3600, hard_time_limit_s=3660),
        )
        for i, config in enumerate(configs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--trials", type=int, default=8, help="timed trials per arm (plus one warm-up)")
    parser.add_argument("--train", type=int, default=2000, help="train pool size (10%% becomes validation)")
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_threads(args.threads)

    warmup, *timed_specs = specs(args)
    roots = DataRoots.of(process_settings())
    data = load_dataset(
        args.dataset, roots=roots, max_train_examples=args.train, max_test_examples=args.test, seed=DATA_SEED
    )
    # First-call costs (data load, lazy imports, kernel selection) stay out of the timings.
    index_trial(warmup, roots)
    dataloader_trial(warmup, data)

    index_s: list[float] = []
    loader_s: list[float] = []
    index_acc: list[float] = []
    loader_acc: list[float] = []
    for i, spec in enumerate(timed_specs):
        arms = [("index", lambda s=spec: index_trial(s, roots)), ("loader", lambda s=spec: dataloader_trial(s, data))]
        for name, run in arms if i % 2 == 0 else arms[::-1]:
            seconds, accuracy = timed(run)
            (index_s if name == "index" else loader_s).append(seconds)
            (index_acc if name == "index" else loader_acc).append(accuracy)
        cfg = spec.config
        print(
            f"trial {spec.trial_id}: L={cfg['num_conv_layers']} f={cfg['num_filters']} k={cfg['kernel_size']} "
            f"fc={cfg['fc_units']} bs={cfg['batch_size']} ep={cfg['epochs']} {cfg['optimizer']}: "
            f"index {index_s[-1]:.2f} s, DataLoader {loader_s[-1]:.2f} s, ratio {loader_s[-1] / index_s[-1]:.1f}x"
        )

    print("\ninput pipeline alone, one epoch of batches (no model):")
    for batch_size in (32, 128, 512):
        index_epoch_s, loader_epoch_s = pipeline_ratio(data, batch_size)
        print(
            f"  batch {batch_size:3d}: index {1e3 * index_epoch_s:7.2f} ms, DataLoader {1e3 * loader_epoch_s:7.2f} ms, "
            f"ratio {loader_epoch_s / index_epoch_s:.0f}x"
        )

    per_min_index, per_min_loader = 60 * len(index_s) / sum(index_s), 60 * len(loader_s) / sum(loader_s)
    print(
        f"\n{args.dataset} {args.train} train / {args.test} test, {len(index_s)} trials per arm, {args.threads} threads"
    )
    print(f"index-batch loop (data on device, uint8): {per_min_index:6.1f} trials/min")
    print(f"DataLoader + per-sample transforms:       {per_min_loader:6.1f} trials/min")
    print(f"ratio (same run, same trials): {per_min_index / per_min_loader:.2f}x overall")
    per_trial = [lo / ix for lo, ix in zip(loader_s, index_s, strict=True)]
    print(f"median per-trial ratio:        {statistics.median(per_trial):.2f}x")
    print(f"mean test accuracy: index {statistics.mean(index_acc):.3f}, DataLoader {statistics.mean(loader_acc):.3f}")


if __name__ == "__main__":
    main()
