"""The dataset catalogue: names users may ask for, and where each comes from.

Only names from here (or `tfds:NAME` for a tfds dataset prepared locally) are
accepted: users never pass paths. Loading lives in workers.trainer.data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
