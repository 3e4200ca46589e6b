"""Dataset loaders keyed by the source ids of trials.datasets.SOURCES; never downloads.

Each loader returns the whole dataset as uint8 (N, C, H, W) tensors on the CPU;
`load_dataset` then subsamples, holds out validation and moves everything to the
device once, where it stays as uint8 (normalised per batch by the loop).
Both steps are cached per process, since a worker runs many trials on one dataset; for a lab's own
data (`imagefolder:`, `npz:`, workers.trainer.local_data) the key also holds the files' version, so
a changed folder or file is read anew, and decoded image folders are also cached on disk.

Data roots come from the operator's settings (`DataRoots.of`), never from users:
data_dir (base), torchvision_dir and tfds_dir (default inside data_dir), fashion_mnist_dir
(default the Debian dataset-fashion-mnist directory); README, "Configuration".
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from broker.settings import Settings
from trials.datasets import local_path, source_of, torchvision_class
from trials.errors import SweeprankError
from workers.trainer import array_cache, local_data
from workers.trainer.defaults import (
    DEVICE_CACHE_SIZE,
    DIGITS_TEST_FRACTION,
    RAW_CACHE_SIZE,
    SPLIT_SEED,
    VAL_FRACTION,
)


class DatasetUnavailable(SweeprankError):
    """A catalogued dataset is not prepared on this machine; the message says how to prepare it."""


@dataclass(frozen=True, eq=False)
class RawImages:
    """A whole dataset on the CPU: uint8 images (N, C, H, W), int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int

    def __post_init__(self) -> None:
        for name in ("train_x", "test_x"):
            images = getattr(self, name)
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise SweeprankError(f"{name} must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")


@dataclass(frozen=True, eq=False)
class ImageData:
    """One prepared dataset, resident on `device` as uint8; mean/std are per channel on the 0–1 scale."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])


@dataclass(frozen=True)
class DataRoots:
    torchvision: Path
    tfds: Path
    fashion_mnist: Path
    cache: Path | None = None  # prepared datasets (workers/trainer/array_cache.py); None: prepare in every process
    imagefolder_side_px: int = 32

    @classmethod
    def of(cls, settings: Settings) -> DataRoots:
        return cls(
            torchvision=settings.torchvision_root,
            tfds=settings.tfds_root,
            fashion_mnist=settings.fashion_mnist_dir,
            cache=settings.dataset_cache_root,
            imagefolder_side_px=settings.imagefolder_side_px,
        )


Loader = Callable[[DataRoots], RawImages]


@dataclass(frozen=True)
class SourceLoader:
    """How one source of trials.datasets.SOURCES loads a name it serves."""

    load: Callable[[str, DataRoots], RawImages]
    # What, besides the name and roots, keys the process caches (a lab's files change under one name); "" if none.
    version: Callable[[str, DataRoots], str] | None = None


# --- loaders -------------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST family's format), gzipped or not, as a uint8 array."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        raw = handle.read()
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code != 0x08:
        raise SweeprankError(f"{path}: expected an IDX file of unsigned bytes (magic 0x0000 08), got {raw[:4].hex()}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    # Copied: torch refuses to wrap the read-only buffer without warning.
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def _idx_file(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DatasetUnavailable(
        f"fashion_mnist: {stem}[.gz] not found in {root}; install Debian's dataset-fashion-mnist "
        f"(apt-get install dataset-fashion-mnist) or point SWEEPRANK_FASHION_MNIST_DIR at the idx files"
    )


def _grey(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)


def _labels(labels: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(labels), dtype=torch.int64)


def load_fashion_mnist(roots: DataRoots) -> RawImages:
    def split(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = read_idx(_idx_file(roots.fashion_mnist, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_idx_file(roots.fashion_mnist, f"{prefix}-labels-idx1-ubyte"))
        return _grey(images), _labels(labels)

    train_x, train_y = split("train")
    test_x, test_y = split("t10k")
    return RawImages(train_x, train_y, test_x, test_y, n_classes=10)


def load_digits(roots: DataRoots) -> RawImages:
    """sklearn's digits, split 80/20 (stratified, seeded); the split is cached: it is the same on every call."""
    return RawImages(*array_cache.cached(roots.cache, digits_cache_name(), _split_digits))


def digits_cache_name() -> str:
    # sklearn's version: a release that changed the data or the split's shuffling writes a new file.
    return f"digits-sklearn{metadata.version('scikit-learn')}-seed{SPLIT_SEED}-test{DIGITS_TEST_FRACTION}.pt"


def _split_digits() -> array_cache.Arrays:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    # Digits are 0..16 intensities; stretch to the 0..255 range every other dataset uses.
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    train_x, test_x, train_y, test_y = train_test_split(
        images, bunch.target, test_size=DIGITS_TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    return _grey(train_x), _labels(train_y), _grey(test_x), _labels(test_y), 10


def _torchvision_unavailable(name: str, cls_name: str, root: Path, err: Exception) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{name}: not prepared under {root} ({err}); on a machine with network run "
        f"`sweeprank data prepare {name}` or `torchvision.datasets.{cls_name}(root='{root}', download=True)` "
        f"(train and test) and copy the result here, or set SWEEPRANK_TORCHVISION_DIR"
    )


def load_torchvision(name: str, roots: DataRoots) -> RawImages:
    import torchvision.datasets as tvd

    cls_name = torchvision_class(name)
    cls = getattr(tvd, cls_name)
    try:
        # download=False: a missing dataset raises at once instead of reaching the network.
        if cls_name == "SVHN":
            train, test = (cls(str(roots.torchvision), split=s, download=False) for s in ("train", "test"))
        else:
            train, test = (cls(str(roots.torchvision), train=t, download=False) for t in (True, False))
    except (RuntimeError, OSError) as err:
        raise _torchvision_unavailable(name, cls_name, roots.torchvision, err) from None
    return RawImages(*_torchvision_split(train), *_torchvision_split(test), n_classes=10)


def _torchvision_split(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels straight from the dataset's arrays, skipping its per-item PIL path."""
    data = dataset.data
    images = torch.as_tensor(np.asarray(data), dtype=torch.uint8)
    if images.dim() == 3:  # MNIST family: (N, H, W)
        images = images.unsqueeze(1)
    elif images.shape[-1] == 3:  # CIFAR: (N, H, W, C); SVHN is already (N, C, H, W)
        images = images.permute(0, 3, 1, 2)
    labels = dataset.labels if hasattr(dataset, "labels") else dataset.targets
    return images.contiguous(), _labels(labels)


def _tfds_unavailable(name: str, root: Path, why: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"tfds:{name}: {why} under {root}; prepare it as array_record on a machine with the data, e.g. "
        f"`tfds.builder('{name}', data_dir=...).download_and_prepare(file_format='array_record')`, "
        f"copy the data_dir here and set SWEEPRANK_TFDS_DIR"
    )


def _tfds_has_versions(root: Path, builder: str) -> bool:
    return any(info.is_file() for info in (root / builder).glob("**/dataset_info.json"))


def load_tfds(name: str, roots: DataRoots) -> RawImages:
    """A tfds dataset prepared as array_record under the tfds root; checked on disk before tfds sees it."""
    root = roots.tfds
    if not _tfds_has_versions(root, name.split("/")[0]):
        raise _tfds_unavailable(name, root, "no prepared versions found")
    import tensorflow_datasets as tfds

    try:
        sources = tfds.data_source(name, data_dir=str(root), download=False)
    except Exception as err:  # tfds raises assorted types (DatasetNotFoundError, AssertionError, ValueError)
        raise _tfds_unavailable(name, root, f"cannot be read ({type(err).__name__}: {err})") from None
    test_split = next((s for s in ("test", "validation") if s in sources), None)
    if "train" not in sources or test_split is None:
        raise _tfds_unavailable(name, root, f"needs a train and a test (or validation) split, has {sorted(sources)}")
    train = sources["train"]
    image_key, label_key = _tfds_keys(name, train.dataset_info)
    n_classes = int(train.dataset_info.features[label_key].num_classes)
    return RawImages(
        *_tfds_split(name, train, image_key, label_key),
        *_tfds_split(name, sources[test_split], image_key, label_key),
        n_classes=n_classes,
    )


def _tfds_keys(name: str, info: Any) -> tuple[str, str]:
    keys = info.supervised_keys or ("image", "label")
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys)):
        raise SweeprankError(f"tfds:{name}: supervised_keys must be (image, label) names, got {keys!r}")
    return keys[0], keys[1]


def _tfds_split(name: str, source: Any, image_key: str, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    records = source.__getitems__(list(range(len(source))))
    images = np.stack([record[image_key] for record in records])
    if images.dtype != np.uint8 or images.ndim != 4:
        shape = images.shape
        raise SweeprankError(f"tfds:{name}: images must be fixed-size uint8 (H, W, C), got {images.dtype} {shape}")
    labels = [record[label_key] for record in records]
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), _labels(labels)


def _path(name: str) -> Path:
    path = local_path(name)
    assert path is not None  # only local sources' names reach their loaders
    return path


def _imagefolder(name: str, roots: DataRoots) -> RawImages:
    return RawImages(*local_data.load_imagefolder(_path(name), roots.imagefolder_side_px, roots.cache))


SOURCE_LOADERS: dict[str, SourceLoader] = {
    "debian": SourceLoader(lambda name, roots: load_fashion_mnist(roots)),
    "sklearn": SourceLoader(lambda name, roots: load_digits(roots)),
    "torchvision": SourceLoader(load_torchvision),
    "tfds": SourceLoader(lambda name, roots: load_tfds(name.partition(":")[2], roots)),
    "imagefolder": SourceLoader(
        _imagefolder, version=lambda name, roots: local_data.folder_fingerprint(_path(name), roots.imagefolder_side_px)
    ),
    "npz": SourceLoader(
        lambda name, roots: RawImages(*local_data.load_npz(_path(name))),
        version=lambda name, roots: local_data.npz_version(_path(name)),
    ),
}

#: Loaders for names outside the catalogue and its sources (benchmarks and tests register synthetic data).
LOADERS: dict[str, Loader] = {}


def register_loader(name: str, loader: Loader) -> None:
    """Add a loader (benchmarks register synthetic data); clears the caches so the name resolves anew."""
    LOADERS[name] = loader
    clear_cache()


def _loader(name: str) -> Loader:
    if name in LOADERS:
        return LOADERS[name]
    source = source_of(name)
    return lambda roots: SOURCE_LOADERS[source.id].load(name, roots)


# --- preparation and caches ----------------------------------------------------------------------


def _version(name: str, roots: DataRoots) -> str:
    """What, besides the name and roots, keys the process caches: the files' version for a lab's own data."""
    if name in LOADERS:
        return ""
    version = SOURCE_LOADERS[source_of(name).id].version
    try:
        return "" if version is None else version(name, roots)
    except OSError:
        return ""  # missing: the loader says so with the rule


@lru_cache(maxsize=RAW_CACHE_SIZE)
def _load_raw(name: str, roots: DataRoots, version: str) -> RawImages:
    return _loader(name)(roots)


def load_raw(name: str, roots: DataRoots) -> RawImages:
    """The whole dataset on the CPU (cached per process, per data roots and per version of a lab's files)."""
    return _load_raw(name, roots, _version(name, roots))


def _subsample(x: torch.Tensor, y: torch.Tensor, limit: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if limit is None or limit >= len(y):
        return x, y
    keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:limit]
    return x[keep], y[keep]


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on the 0–1 scale, from 256-bin histograms (no float copy of the images)."""
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).to(torch.float64)
        weights = counts / counts.sum()
        mean = float((weights * levels).sum())
        std = float((weights * (levels - mean) ** 2).sum().sqrt())
        means.append(mean)
        stds.append(max(std, 1e-3))  # a constant channel must not divide by zero
    return tuple(means), tuple(stds)


@lru_cache(maxsize=DEVICE_CACHE_SIZE)
def _prepare(
    name: str, roots: DataRoots, version: str, max_train: int | None, max_test: int | None, seed: int, device: str
) -> ImageData:
    raw = _load_raw(name, roots, version)
    pool_x, pool_y = _subsample(raw.train_x, raw.train_y, max_train, seed)
    test_x, test_y = _subsample(raw.test_x, raw.test_y, max_test, seed)
    order = torch.randperm(len(pool_y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_val = max(1, round(VAL_FRACTION * len(pool_y)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    train_x = pool_x[train_idx]
    mean, std = _channel_stats(train_x)
    return ImageData(
        name=name,
        train_x=train_x.to(device),
        train_y=pool_y[train_idx].to(device),
        val_x=pool_x[val_idx].to(device),
        val_y=pool_y[val_idx].to(device),
        test_x=test_x.to(device),
        test_y=test_y.to(device),
        n_classes=raw.n_classes,
        mean=mean,
        std=std,
    )


def load_dataset(
    name: str,
    *,
    roots: DataRoots,
    max_train_examples: int | None = None,
    max_test_examples: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> ImageData:
    """A prepared dataset on `device`: train pool subsampled to max_train_examples (by seed), then a
    fixed VAL_FRACTION of it held out for validation; test subsampled to max_test_examples."""
    return _prepare(name, roots, _version(name, roots), max_train_examples, max_test_examples, seed, str(device))


def clear_cache() -> None:
    _load_raw.cache_clear()
    _prepare.cache_clear()
