"""Which catalogue datasets a host has prepared: file presence under its data roots, no loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from trials.datasets import check_dataset_name, how_to_prepare, is_prepared, prepared_datasets
from trials.errors import SpecError


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_empty_roots_have_digits_only(tmp_path: Path) -> None:
    assert prepared_datasets(tmp_path / "tv", tmp_path / "tfds", tmp_path / "fm") == ["digits"]


def test_each_kind_of_root_is_recognised_by_the_files_its_loader_reads(tmp_path: Path) -> None:
    tv, tfds, fm = tmp_path / "tv", tmp_path / "tfds", tmp_path / "fm"
    for name in ("data_batch_1", "data_batch_5", "test_batch"):
        _touch(tv / "cifar-10-batches-py" / name)
    _touch(tv / "MNIST" / "raw" / "train-images-idx3-ubyte")  # incomplete: three files missing
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        _touch(fm / f"{stem}.gz")
    _touch(fm / "t10k-labels-idx1-ubyte")  # gzipped or not, as the loader reads them
    _touch(tfds / "tiny_shapes" / "1.0.0" / "dataset_info.json")
    (tfds / "half_done").mkdir()
    assert prepared_datasets(tv, tfds, fm) == ["cifar10", "digits", "fashion_mnist", "tfds:tiny_shapes"]


def test_a_tfds_name_with_a_version_is_prepared_when_its_builder_is() -> None:
    assert is_prepared("tfds:tiny_shapes/1.0.0", {"tfds:tiny_shapes"})
    assert not is_prepared("tfds:other", {"tfds:tiny_shapes"}) and not is_prepared("cifar10", {"digits"})


def test_the_preparation_hint_names_the_setting_to_point_at_it() -> None:
    assert "torchvision.datasets.CIFAR10(root=ROOT, download=True)" in how_to_prepare("cifar10")
    assert "SWEEPRANK_TORCHVISION_DIR" in how_to_prepare("cifar10")
    assert "dataset-fashion-mnist" in how_to_prepare("fashion_mnist")
    assert "SWEEPRANK_TFDS_DIR" in how_to_prepare("tfds:tiny_shapes")


@pytest.mark.parametrize("name", ["imagefolder:/data/leaves", "npz:/data/lab images/set.npz"])
def test_a_labs_own_data_is_named_by_its_absolute_path(name: str) -> None:
    assert check_dataset_name(name).source == name.split(":")[0]
    assert "SWEEPRANK_LOCAL_DATASETS" in how_to_prepare(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("imagefolder:data/leaves", "absolute and normalised"),
        ("imagefolder:/data/../etc", "absolute and normalised"),
        ("imagefolder:/data/leaves/", "absolute and normalised"),
        ("imagefolder://host/leaves", "absolute and normalised"),
        ("npz:/data/set.csv", "must end in .npz"),
        ("imagefolder:/data/\nleaves", "printable"),
        ("folder:/data/leaves", "unknown dataset"),
    ],
)
def test_other_paths_are_refused_with_the_rule(name: str, why: str) -> None:
    with pytest.raises(SpecError, match=why):
        check_dataset_name(name)


def test_a_labs_own_data_is_prepared_when_its_listed_files_are_here(tmp_path: Path) -> None:
    (tmp_path / "leaves").mkdir()
    _touch(tmp_path / "set.npz")
    listed = [f"imagefolder:{tmp_path / 'leaves'}", f"npz:{tmp_path / 'set.npz'}", f"npz:{tmp_path / 'gone.npz'}"]
    found = prepared_datasets(tmp_path / "tv", tmp_path / "tfds", tmp_path / "fm", listed)
    assert found == ["digits", *listed[:2]]
    unlisted = prepared_datasets(tmp_path / "tv", tmp_path / "tfds", tmp_path / "fm")
    assert unlisted == ["digits"]  # a trainer offers only the paths its operator listed
