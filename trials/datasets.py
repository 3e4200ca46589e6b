"""The dataset sources and catalogue: names users may ask for, and where each comes from.

`SOURCES` declares each source once: its id, description, how to prepare it and, for a prefixed
source (`tfds:`, `imagefolder:`, `npz:`), the rule its names follow. The loaders register by the
same ids (workers.trainer.data.SOURCE_LOADERS), as does `sweeprank data` (where a source's files
are, how to prepare one); tests check that the key sets are equal.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trials.errors import SpecError


@dataclass(frozen=True)
class DatasetSource:
    """Where datasets come from. Loaders (workers.trainer.data.SOURCE_LOADERS) are keyed by the same id.

    A catalogued source serves the CATALOGUE's names; a prefixed one serves `ID:REST` names, shaped
    like `shape`, where `entry` describes one of them and `problem` says why a REST is not acceptable.
    """

    id: str
    description: str  # what the source is: `sweeprank data list --json`, README
    how_to_prepare: str  # a template: {name}, {cls} (torchvision's class), {rest} (after the prefix)
    shape: str = ""  # how a prefixed source's names look (`tfds:NAME`); "" for a catalogued source
    entry: str = ""  # a prefixed name's description, a template: {rest}
    problem: Callable[[str], str | None] | None = None
    local: Literal["dir", "file"] | None = None  # the REST is a path on the trainer hosts: a folder or a file

    @property
    def prefixed(self) -> bool:
        return bool(self.shape)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str  # an id of SOURCES
    description: str


_TFDS_REST = re.compile(r"^[a-z][a-z0-9_]{0,63}(/[a-z0-9_.]{1,32})?$")
_MAX_PATH_CHARS = 1024


def _tfds_problem(rest: str) -> str | None:
    if _TFDS_REST.match(rest):
        return None
    return f"unknown dataset {f'tfds:{rest}'!r}: a tfds name is tfds:NAME or tfds:NAME/VERSION, in lower case"


def _path_problem(source: str, suffix: str = "") -> Callable[[str], str | None]:
    def problem(rest: str) -> str | None:
        if len(rest) > _MAX_PATH_CHARS or any(ord(c) < 32 for c in rest):
            return f"the path of {source}: must be at most {_MAX_PATH_CHARS} printable characters"
        name = f"{source}:{rest}"
        # Normalised (no `..`, `//` or trailing `/`), so one folder has one name, in heartbeats and caches alike.
        if not rest.startswith("/") or os.path.normpath(rest) != rest or rest.startswith("//"):
            return f"{name!r}: the path must be absolute and normalised, e.g. {source}:/data/leaves"
        if suffix and not rest.endswith(suffix):
            return f"{name!r}: an {source}: path must end in {suffix}"
        return None

    return problem


_ON_TRAINERS = "on each trainer host and add the name to their SWEEPRANK_LOCAL_DATASETS"
SOURCES: dict[str, DatasetSource] = {
    source.id: source
    for source in (
        DatasetSource(
            "debian",
            "Debian's dataset-fashion-mnist package (idx files)",
            "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) on the trainer hosts, "
            "or point their SWEEPRANK_FASHION_MNIST_DIR at the idx files",
        ),
        DatasetSource("sklearn", "ships with scikit-learn", "install scikit-learn on the trainer hosts"),
        DatasetSource(
            "torchvision",
            "torchvision's datasets, prepared once under the torchvision root",
            "on a machine with network run `sweeprank data prepare {name}` (that is, "
            "`torchvision.datasets.{cls}(root=ROOT, download=True)` for train and test) and copy ROOT to each "
            "trainer host's SWEEPRANK_TORCHVISION_DIR (default $SWEEPRANK_DATA_DIR/torchvision)",
        ),
        DatasetSource(
            "tfds",
            "tensorflow-datasets datasets, prepared as array_record under the tfds root",
            "run `sweeprank data prepare {name}` on a trainer host with network, or prepare it as array_record "
            "(`tfds.builder('{rest}', data_dir=DIR, file_format='array_record').download_and_prepare()`) and copy "
            "DIR to each trainer host's SWEEPRANK_TFDS_DIR (default $SWEEPRANK_DATA_DIR/tfds)",
            shape="tfds:NAME",
            entry="tfds dataset {rest} prepared locally as array_record",
            problem=_tfds_problem,
        ),
        DatasetSource(
            "imagefolder",
            "a lab's own image folder on the trainer hosts",
            f"put the folder at that path {_ON_TRAINERS}",
            shape="imagefolder:/ABS/DIR",
            entry="a local image folder, one sub-folder per class",
            problem=_path_problem("imagefolder"),
            local="dir",
        ),
        DatasetSource(
            "npz",
            "a lab's own arrays in an .npz file on the trainer hosts",
            f"put the file at that path {_ON_TRAINERS}",
            shape="npz:/ABS/FILE.npz",
            entry="a local .npz of x_train, y_train, x_test, y_test",
            problem=_path_problem("npz", ".npz"),
            local="file",
        ),
    )
}

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
LOCAL_SOURCES = tuple(source.id for source in SOURCES.values() if source.local)


def _prefixed(name: str) -> tuple[DatasetSource, str] | None:
    """The prefixed source of `ID:REST` and the REST, or None (not validated: see check_dataset_name)."""
    prefix, sep, rest = name.partition(":")
    source = SOURCES.get(prefix) if sep else None
    return (source, rest) if source is not None and source.prefixed else None


def local_path(name: str) -> Path | None:
    """The path of a local source's name (`imagefolder:`, `npz:`), None for any other (not validated)."""
    found = _prefixed(name)
    return Path(found[1]) if found is not None and found[0].local else None


def _known() -> str:
    *shapes, last = (s.shape for s in SOURCES.values() if s.prefixed)
    return f"known: {sorted(CATALOGUE)}, {', '.join(shapes)} or {last}"


def check_dataset_name(name: str, where: str = "datasets") -> DatasetInfo:
    """The catalogue entry for a name (or one made for a prefixed name), or a SpecError listing what is known."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    found = _prefixed(name)
    if found is None:
        raise SpecError(where, f"unknown dataset {name!r}; {_known()}")
    source, rest = found
    if source.problem is not None and (problem := source.problem(rest)) is not None:
        raise SpecError(where, problem)
    return DatasetInfo(name, source.id, source.entry.format(rest=rest))


def source_of(name: str) -> DatasetSource:
    """The source of an accepted name (SpecError for one that is not)."""
    return SOURCES[check_dataset_name(name, "dataset").source]


# Files the loaders read, relative to their root: what "prepared" means for each catalogue entry.
_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION_FILES = {
    "mnist": tuple(f"MNIST/raw/{stem}" for stem in _IDX),
    "kmnist": tuple(f"KMNIST/raw/{stem}" for stem in _IDX),
    "cifar10": tuple(f"cifar-10-batches-py/{b}" for b in ("data_batch_1", "data_batch_5", "test_batch")),
    "svhn": ("train_32x32.mat", "test_32x32.mat"),
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
    if path is None:
        return False
    return path.is_dir() if source_of(name).local == "dir" else path.is_file()


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
        builders = (d for d in tfds_root.iterdir() if d.is_dir() and _TFDS_REST.match(d.name))
        found += [f"tfds:{d.name}" for d in builders if next(d.glob("**/dataset_info.json"), None) is not None]
    found += [name for name in local if _local_present(name)]
    return sorted(found)


def is_prepared(name: str, prepared: set[str]) -> bool:
    """Whether `name` (a tfds name may carry a version or config) is among the prepared datasets."""
    return name in prepared or (name.startswith("tfds:") and name.split("/")[0] in prepared)


def how_to_prepare(name: str) -> str:
    info = check_dataset_name(name)
    rest = name.partition(":")[2]
    return SOURCES[info.source].how_to_prepare.format(name=name, cls=_TORCHVISION_CLASS.get(name, ""), rest=rest)
