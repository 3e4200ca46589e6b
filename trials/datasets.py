"""The dataset catalogue: names users may ask for, and where each comes from.

Only names from here (or `tfds:NAME` for a tfds dataset prepared locally) are
accepted: users never pass paths. Loading lives in workers.trainer.data.

Which are prepared is a look at the files each loader reads (`prepared_datasets`), never a load:
trainers report it in their heartbeat, and the web server refuses sweeps on datasets that no live
trainer has (or, with no trainer live, that its own host lacks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trials.errors import SpecError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str  # "debian" | "sklearn" | "torchvision" | "tfds"
    description: str


CATALOGUE: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "fashion_mnist", "debian", "Fashion-MNIST 60k/10k 28x28 grey, Debian package dataset-fashion-mnist"
        ),
        DatasetInfo("digits", "sklearn", "scikit-learn digits, 1,797 8x8 grey images (split 80/20)"),
        DatasetInfo("mnist", "torchvision", "MNIST from a prepared torchvision root"),
        DatasetInfo("kmnist", "torchvision", "Kuzushiji-MNIST from a prepared torchvision root"),
        DatasetInfo("cifar10", "torchvision", "CIFAR-10 from a prepared torchvision root"),
        DatasetInfo("svhn", "torchvision", "SVHN from a prepared torchvision root"),
    )
}

_TFDS_NAME = re.compile(r"^tfds:[a-z][a-z0-9_]{0,63}(/[a-z0-9_.]{1,32})?$")


def check_dataset_name(name: str, where: str = "datasets") -> DatasetInfo:
    """The catalogue entry for a name, or a SpecError listing what is known."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    if _TFDS_NAME.match(name):
        return DatasetInfo(name, "tfds", f"tfds dataset {name[5:]} prepared locally as array_record")
    raise SpecError(where, f"unknown dataset {name!r}; known: {sorted(CATALOGUE)} or tfds:NAME")


# Files the loaders read, relative to their root: what "prepared" means for each catalogue entry.
_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION_FILES = {
    "mnist": tuple(f"MNIST/raw/{stem}" for stem in _IDX),
    "kmnist": tuple(f"KMNIST/raw/{stem}" for stem in _IDX),
    "cifar10": tuple(f"cifar-10-batches-py/{b}" for b in ("data_batch_1", "data_batch_5", "test_batch")),
    "svhn": ("train_32x32.mat", "test_32x32.mat"),
}
_HOW_TO_PREPARE = {
    "sklearn": "install scikit-learn on the trainer hosts",
    "debian": "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) on the trainer hosts, "
    "or point their SWEEPRANK_FASHION_MNIST_DIR at the idx files",
    "torchvision": "on a machine with network run `torchvision.datasets.{cls}(root=ROOT, download=True)` "
    "(train and test) and copy ROOT to each trainer host's SWEEPRANK_TORCHVISION_DIR "
    "(default $SWEEPRANK_DATA_DIR/torchvision)",
    "tfds": "prepare it as array_record (`tfds.builder('{tfds}', data_dir=DIR).download_and_prepare("
    "file_format='array_record')`) and copy DIR to each trainer host's SWEEPRANK_TFDS_DIR "
    "(default $SWEEPRANK_DATA_DIR/tfds)",
}
_TORCHVISION_CLASS = {"mnist": "MNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10", "svhn": "SVHN"}


def _idx_present(root: Path, stem: str) -> bool:
    return (root / stem).is_file() or (root / f"{stem}.gz").is_file()


def prepared_datasets(torchvision_root: Path, tfds_root: Path, fashion_mnist_root: Path) -> list[str]:
    """The datasets this host can load from these roots, by file presence only (cheap: a few stats)."""
    found = ["digits"]  # ships with scikit-learn
    if all(_idx_present(fashion_mnist_root, stem) for stem in _IDX):
        found.append("fashion_mnist")
    found += [n for n, files in _TORCHVISION_FILES.items() if all((torchvision_root / f).is_file() for f in files)]
    if tfds_root.is_dir():
        builders = (d for d in tfds_root.iterdir() if d.is_dir() and _TFDS_NAME.match(f"tfds:{d.name}"))
        found += [f"tfds:{d.name}" for d in builders if next(d.glob("**/dataset_info.json"), None) is not None]
    return sorted(found)


def is_prepared(name: str, prepared: set[str]) -> bool:
    """Whether `name` (a tfds name may carry a version or config) is among the prepared datasets."""
    return name in prepared or (name.startswith("tfds:") and name.split("/")[0] in prepared)


def how_to_prepare(name: str) -> str:
    info = check_dataset_name(name)
    return _HOW_TO_PREPARE[info.source].format(cls=_TORCHVISION_CLASS.get(name, ""), tfds=name[5:])
