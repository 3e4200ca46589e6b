"""The dataset catalogue: names users may ask for, and where each comes from.

Only names from here, `tfds:NAME` for a tfds dataset prepared locally, or a lab's own data
(`imagefolder:/abs/dir`, `npz:/abs/file.npz`) are accepted. The last two are the only names that
hold a path: it must be absolute and normalised, and a sweep may use it only where a live trainer
reports it prepared, which it does only for the paths its operator listed in
SWEEPRANK_LOCAL_DATASETS (so users cannot probe a trainer's filesystem). Loading lives in
workers.trainer.data.

Which are prepared is a look at the files each loader reads (`prepared_datasets`), never a load:
trainers report it in their heartbeat, and the web server refuses sweeps on datasets that no live
trainer has (or, with no trainer live, that its own host lacks).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trials.errors import SpecError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str  # "debian" | "sklearn" | "torchvision" | "tfds" | "imagefolder" | "npz"
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
LOCAL_SOURCES = ("imagefolder", "npz")  # name prefixes whose rest is an absolute path on the trainer hosts
_MAX_PATH_CHARS = 1024
_LOCAL_DESCRIPTION = {
    "imagefolder": "a local image folder, one sub-folder per class",
    "npz": "a local .npz of x_train, y_train, x_test, y_test",
}


def local_path(name: str) -> Path | None:
    """The path of an `imagefolder:`/`npz:` name, None for any other name (not validated: see check_dataset_name)."""
    source, sep, rest = name.partition(":")
    return Path(rest) if sep and source in LOCAL_SOURCES else None


def _local_path_problem(name: str) -> str | None:
    """Why an `imagefolder:`/`npz:` name is not acceptable, or None when it is."""
    source, _, rest = name.partition(":")
    if len(rest) > _MAX_PATH_CHARS or any(ord(c) < 32 for c in rest):
        return f"the path of {source}: must be at most {_MAX_PATH_CHARS} printable characters"
    # Normalised (no `..`, `//` or trailing `/`), so one folder has one name, in heartbeats and caches alike.
    if not rest.startswith("/") or os.path.normpath(rest) != rest or rest.startswith("//"):
        return f"{name!r}: the path must be absolute and normalised, e.g. {source}:/data/leaves"
    if source == "npz" and not rest.endswith(".npz"):
        return f"{name!r}: an npz: path must end in .npz"
    return None


def check_dataset_name(name: str, where: str = "datasets") -> DatasetInfo:
    """The catalogue entry for a name, or a SpecError listing what is known."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    if _TFDS_NAME.match(name):
        return DatasetInfo(name, "tfds", f"tfds dataset {name[5:]} prepared locally as array_record")
    if local_path(name) is not None:
        problem = _local_path_problem(name)
        if problem is not None:
            raise SpecError(where, problem)
        source = name.partition(":")[0]
        return DatasetInfo(name, source, _LOCAL_DESCRIPTION[source])
    raise SpecError(
        where,
        f"unknown dataset {name!r}; known: {sorted(CATALOGUE)}, tfds:NAME, imagefolder:/ABS/DIR or npz:/ABS/FILE.npz",
    )


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
    "torchvision": "on a machine with network run `sweeprank data prepare {name}` (that is, "
    "`torchvision.datasets.{cls}(root=ROOT, download=True)` for train and test) and copy ROOT to each trainer "
    "host's SWEEPRANK_TORCHVISION_DIR (default $SWEEPRANK_DATA_DIR/torchvision)",
    "tfds": "run `sweeprank data prepare {name}` on a trainer host with network, or prepare it as array_record "
    "(`tfds.builder('{tfds}', data_dir=DIR, file_format='array_record').download_and_prepare()`) and copy DIR "
    "to each trainer host's SWEEPRANK_TFDS_DIR (default $SWEEPRANK_DATA_DIR/tfds)",
    "imagefolder": "put the folder at that path on each trainer host and add the name to their "
    "SWEEPRANK_LOCAL_DATASETS",
    "npz": "put the file at that path on each trainer host and add the name to their SWEEPRANK_LOCAL_DATASETS",
}
_TORCHVISION_CLASS = {"mnist": "MNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10", "svhn": "SVHN"}


def _idx_present(root: Path, stem: str) -> bool:
    return (root / stem).is_file() or (root / f"{stem}.gz").is_file()


def torchvision_files(name: str) -> tuple[str, ...]:
    """The files (relative to the torchvision root) whose presence means `name` is prepared."""
    return _TORCHVISION_FILES[name]


def torchvision_class(name: str) -> str:
    """The torchvision.datasets class that downloads and reads a torchvision catalogue entry."""
    return _TORCHVISION_CLASS[name]


def _local_present(name: str) -> bool:
    path = local_path(name)
    return path is not None and (path.is_file() if name.startswith("npz:") else path.is_dir())


def prepared_datasets(
    torchvision_root: Path, tfds_root: Path, fashion_mnist_root: Path, local: Iterable[str] = ()
) -> list[str]:
    """The datasets this host can load from these roots and of its `local` (imagefolder:/npz:) names,
    by file presence only (cheap: a few stats)."""
    found = ["digits"]  # ships with scikit-learn
    if all(_idx_present(fashion_mnist_root, stem) for stem in _IDX):
        found.append("fashion_mnist")
    found += [n for n, files in _TORCHVISION_FILES.items() if all((torchvision_root / f).is_file() for f in files)]
    if tfds_root.is_dir():
        builders = (d for d in tfds_root.iterdir() if d.is_dir() and _TFDS_NAME.match(f"tfds:{d.name}"))
        found += [f"tfds:{d.name}" for d in builders if next(d.glob("**/dataset_info.json"), None) is not None]
    found += [name for name in local if _local_present(name)]
    return sorted(found)


def is_prepared(name: str, prepared: set[str]) -> bool:
    """Whether `name` (a tfds name may carry a version or config) is among the prepared datasets."""
    return name in prepared or (name.startswith("tfds:") and name.split("/")[0] in prepared)


def how_to_prepare(name: str) -> str:
    info = check_dataset_name(name)
    return _HOW_TO_PREPARE[info.source].format(name=name, cls=_TORCHVISION_CLASS.get(name, ""), tfds=name[5:])
