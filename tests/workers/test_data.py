from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from broker.settings import Settings
from trials.errors import SpecError, SweeprankError
from workers.trainer import data
from workers.trainer.data import DataRoots, DatasetUnavailable, load_dataset, load_raw, read_idx

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize("gzipped", [True, False])
def test_read_idx_round_trip(tmp_path: Path, gzipped: bool) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.gz" if gzipped else "a")
    path.write_bytes(gzip.compress(_idx_bytes(array)) if gzipped else _idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_rejects_non_byte_data(tmp_path: Path) -> None:
    path = tmp_path / "floats"
    path.write_bytes(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 1) + b"\0" * 4)
    with pytest.raises(SweeprankError, match="unsigned bytes"):
        read_idx(path)


def test_fashion_mnist_from_debian_files(roots: DataRoots) -> None:
    raw = load_raw("fashion_mnist", roots)
    assert raw.train_x.shape == (60_000, 1, 28, 28) and raw.test_x.shape == (10_000, 1, 28, 28)
    prepared = load_dataset("fashion_mnist", roots=roots)
    assert (len(prepared.train_y), len(prepared.val_y), len(prepared.test_y)) == (54_000, 6_000, 10_000)
    assert prepared.train_x.dtype == prepared.val_x.dtype == prepared.test_x.dtype == torch.uint8
    assert prepared.train_y.dtype == torch.int64
    assert set(prepared.test_y.unique().tolist()) == set(range(10)) and prepared.n_classes == 10
    assert (prepared.in_channels, prepared.image_size) == (1, (28, 28))
    assert prepared.mean[0] == pytest.approx(0.286, abs=0.002) and prepared.std[0] == pytest.approx(0.353, abs=0.002)


@pytest.mark.slow
def test_subsampling_is_deterministic_by_seed(roots: DataRoots) -> None:
    def sample(seed: int) -> data.ImageData:
        data.clear_cache()  # a fresh draw, not the cached object
        return load_dataset("fashion_mnist", roots=roots, max_train_examples=300, max_test_examples=50, seed=seed)

    first, again, other = sample(1), sample(1), sample(2)
    assert (len(first.train_y), len(first.val_y), len(first.test_y)) == (270, 30, 50)
    assert first is not again
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_y, again.test_y)
    assert not torch.equal(first.train_x, other.train_x)


def test_prepared_datasets_are_cached_per_process(roots: DataRoots) -> None:
    first = load_dataset("digits", roots=roots, max_train_examples=100)
    assert load_dataset("digits", roots=roots, max_train_examples=100) is first


def test_digits_split_80_20_then_10_percent_validation(roots: DataRoots) -> None:
    digits = load_dataset("digits", roots=roots)
    assert (len(digits.train_y), len(digits.val_y), len(digits.test_y)) == (1_293, 144, 360)
    assert digits.train_x.shape[1:] == (1, 8, 8) and digits.train_x.dtype == torch.uint8
    assert int(digits.train_x.max()) == 255 and digits.n_classes == 10


@pytest.mark.parametrize("name", ["mnist", "kmnist", "cifar10", "svhn"])
def test_missing_torchvision_dataset_says_how_to_prepare(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPRANK_TORCHVISION_DIR", str(tmp_path))
    # No download is attempted (the package's no_network fixture would turn one into an OSError at once,
    # which also ends here): what shows it is that the root stays empty.
    with pytest.raises(DatasetUnavailable, match="download=True") as caught:
        load_dataset(name, roots=DataRoots.of(Settings()))
    assert f"sweeprank data prepare {name}" in str(caught.value)
    assert str(tmp_path) in str(caught.value) and isinstance(caught.value, SweeprankError)
    assert list(tmp_path.iterdir()) == []  # nothing fetched, nothing written


def test_missing_fashion_mnist_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="dataset-fashion-mnist"):
        load_dataset("fashion_mnist", roots=DataRoots.of(Settings()))


def test_missing_tfds_dataset_fails_before_tfds_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_TFDS_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # importing it now raises ImportError
    with pytest.raises(DatasetUnavailable, match="array_record"):
        load_dataset("tfds:mnist", roots=DataRoots.of(Settings()))


def test_data_dir_is_the_base_of_the_other_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SWEEPRANK_TORCHVISION_DIR", raising=False)
    monkeypatch.delenv("SWEEPRANK_TFDS_DIR", raising=False)
    roots = DataRoots.of(Settings())
    assert (roots.torchvision, roots.tfds) == (tmp_path / "torchvision", tmp_path / "tfds")


def test_uncatalogued_name_is_a_spec_error(roots: DataRoots) -> None:
    with pytest.raises(SpecError, match="unknown dataset"):
        load_dataset("imagenet", roots=roots)


def test_registered_loader_serves_its_name(roots: DataRoots, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "LOADERS", dict(data.LOADERS))
    images = torch.zeros(20, 3, 4, 4, dtype=torch.uint8)
    labels = torch.arange(20) % 2
    data.register_loader("synthetic", lambda roots: data.RawImages(images, labels, images[:5], labels[:5], 2))
    prepared = load_dataset("synthetic", roots=roots)
    assert (len(prepared.train_y), len(prepared.val_y), prepared.n_classes) == (18, 2, 2)
    assert prepared.std == (1e-3, 1e-3, 1e-3)  # constant images: floored, never zero


def test_raw_images_must_be_uint8_nchw() -> None:
    with pytest.raises(SweeprankError, match="uint8"):
        data.RawImages(
            torch.zeros(2, 4, 4), torch.zeros(2), torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2), 2
        )


def test_the_digits_split_is_prepared_once_and_read_back_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = DataRoots.of(Settings(data_dir=tmp_path))
    data.clear_cache()
    first = load_raw("digits", roots)
    [cached] = (tmp_path / "cache").glob("digits-*.pt")

    def unavailable() -> None:
        raise AssertionError("the split was prepared again")

    monkeypatch.setattr(data, "_split_digits", unavailable)
    data.clear_cache()  # a new trainer child: only the file remains
    again = load_raw("digits", roots)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(again, field), getattr(first, field))
    assert again.n_classes == first.n_classes == 10
    assert cached.is_file()


def test_a_damaged_or_unwritable_cache_only_costs_the_split_again(tmp_path: Path) -> None:
    data.clear_cache()
    expected = load_raw("digits", DataRoots.of(Settings(data_dir=tmp_path / "fresh")))
    damaged = DataRoots.of(Settings(data_dir=tmp_path / "damaged"))
    assert damaged.cache is not None
    damaged.cache.mkdir(parents=True)
    (damaged.cache / data.digits_cache_name()).write_bytes(b"not a torch file")
    unwritable = DataRoots.of(Settings(data_dir=tmp_path / "unwritable"))
    (tmp_path / "unwritable").write_text("a file where the data root's folder should be")  # refused even to root
    for roots in (damaged, unwritable):
        data.clear_cache()
        assert torch.equal(load_raw("digits", roots).test_y, expected.test_y)
    assert torch.equal(torch.load(damaged.cache / data.digits_cache_name())[3], expected.test_y)
