"""A lab's own data: `imagefolder:` and `npz:` decode to uint8 tensors, split by the documented rule,
are cached (on disk for folders, keyed by their contents) and train through the real trial loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from broker.settings import Settings, SettingsError, read_settings
from tests.workers.conftest import SpecFactory
from tests.workers.local_images import CLASSES, write_image_folder, write_npz
from trials.specs import TrialStatus
from workers.trainer import data, local_data
from workers.trainer.data import DataRoots, load_dataset, load_raw
from workers.trainer.local_data import LocalDataError
from workers.trainer.loop import run_trial


@pytest.fixture
def local_roots(tmp_path: Path) -> DataRoots:
    data.clear_cache()
    return DataRoots.of(Settings(data_dir=tmp_path / "data", imagefolder_side_px=12))


def test_image_folder_is_resized_greyscaled_by_majority_and_split_80_20_per_class(
    tmp_path: Path, local_roots: DataRoots
) -> None:
    folder = write_image_folder(tmp_path / "pets", per_class=10, modes=("L", "L", "RGB"), sizes=((20, 14), (9, 30)))
    raw = load_raw(f"imagefolder:{folder}", local_roots)
    assert raw.train_x.shape == (24, 1, 12, 12) and raw.test_x.shape == (6, 1, 12, 12)
    assert raw.train_x.dtype == torch.uint8 and raw.n_classes == len(CLASSES)
    assert torch.bincount(raw.test_y).tolist() == [2, 2, 2]  # sorted folder names are the labels
    # Class k is brightness band 80k..80k+60: the labels follow the folders.
    means = [float(raw.train_x[raw.train_y == k].float().mean()) for k in range(3)]
    assert means == sorted(means) and means[2] - means[0] > 100


def test_image_folder_of_mostly_colour_images_keeps_three_channels(tmp_path: Path, local_roots: DataRoots) -> None:
    folder = write_image_folder(tmp_path / "pets", per_class=3, modes=("RGB", "RGB", "L"))
    assert load_raw(f"imagefolder:{folder}", local_roots).train_x.shape[1] == 3


def test_train_and_test_sub_folders_are_the_split(tmp_path: Path, local_roots: DataRoots) -> None:
    write_image_folder(tmp_path / "pets" / "train", per_class=4)
    write_image_folder(tmp_path / "pets" / "test", per_class=2)
    raw = load_raw(f"imagefolder:{tmp_path / 'pets'}", local_roots)
    assert (len(raw.train_y), len(raw.test_y)) == (12, 6)


def test_decoded_folder_is_reused_from_disk_and_decoded_anew_when_it_changes(
    tmp_path: Path, local_roots: DataRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_image_folder(tmp_path / "pets", per_class=5)
    name = f"imagefolder:{folder}"
    first = load_raw(name, local_roots)
    assert local_roots.cache is not None and len(list(local_roots.cache.glob("imagefolder-*.pt"))) == 1

    decodes: list[Path] = []
    real_decode = local_data.decode_imagefolder

    def counted_decode(root: Path, side_px: int) -> local_data.Arrays:
        decodes.append(root)
        return real_decode(root, side_px)

    monkeypatch.setattr(local_data, "decode_imagefolder", counted_decode)
    data.clear_cache()  # a new process: only the disk cache remains
    again = load_raw(name, local_roots)
    assert decodes == [] and torch.equal(again.train_x, first.train_x) and torch.equal(again.test_y, first.test_y)

    write_image_folder(folder, per_class=6)  # one more image per class
    changed = load_raw(name, local_roots)  # same process: the version in the key misses the stale entry
    assert decodes == [folder] and len(changed.train_y) + len(changed.test_y) == 18


def test_folder_with_one_class_is_refused_with_the_rule(tmp_path: Path, local_roots: DataRoots) -> None:
    write_image_folder(tmp_path / "pets", per_class=2)
    for extra in ("dog", "eel"):
        for png in (tmp_path / "pets" / extra).iterdir():
            png.unlink()
        (tmp_path / "pets" / extra).rmdir()
    with pytest.raises(LocalDataError, match="at least two class sub-folders"):
        load_raw(f"imagefolder:{tmp_path / 'pets'}", local_roots)


def test_missing_folder_says_so(tmp_path: Path, local_roots: DataRoots) -> None:
    with pytest.raises(LocalDataError, match="no such folder"):
        load_raw(f"imagefolder:{tmp_path / 'nowhere'}", local_roots)


@pytest.mark.parametrize("channels", [None, 3])
def test_npz_images_become_nchw(tmp_path: Path, local_roots: DataRoots, channels: int | None) -> None:
    path = write_npz(tmp_path / "lab.npz", channels=channels)
    raw = load_raw(f"npz:{path}", local_roots)
    assert raw.train_x.shape == (60, channels or 1, 8, 8) and raw.test_x.shape == (20, channels or 1, 8, 8)
    assert raw.n_classes == 3 and raw.train_y.dtype == torch.int64


def test_rewritten_npz_is_read_anew(tmp_path: Path, local_roots: DataRoots) -> None:
    path = write_npz(tmp_path / "lab.npz", n_train=60)
    assert len(load_raw(f"npz:{path}", local_roots).train_y) == 60
    write_npz(path, n_train=30)
    assert len(load_raw(f"npz:{path}", local_roots).train_y) == 30


def test_npz_of_floats_is_refused_naming_the_array(tmp_path: Path, local_roots: DataRoots) -> None:
    path = tmp_path / "floats.npz"
    labels = np.zeros(4, dtype=np.int64)
    np.savez(path, x_train=np.zeros((4, 8, 8)), y_train=labels, x_test=np.zeros((4, 8, 8)), y_test=labels)
    with pytest.raises(LocalDataError, match="x_train must be uint8"):
        load_raw(f"npz:{path}", local_roots)


def test_npz_missing_an_array_names_it(tmp_path: Path, local_roots: DataRoots) -> None:
    path = tmp_path / "half.npz"
    np.savez(path, x_train=np.zeros((4, 8, 8), dtype=np.uint8), y_train=np.zeros(4, dtype=np.int64))
    with pytest.raises(LocalDataError, match=r"missing arrays \['x_test', 'y_test'\]"):
        load_raw(f"npz:{path}", local_roots)


def test_trains_on_an_npz(tmp_path: Path, local_roots: DataRoots, make_spec: SpecFactory) -> None:
    name = f"npz:{write_npz(tmp_path / 'lab.npz')}"
    assert load_dataset(name, roots=local_roots).in_channels == 3
    result = run_trial(make_spec(dataset=name, epochs=1, batch_size=16), roots=local_roots)
    assert result.status is TrialStatus.COMPLETED, result.error
    assert result.test_accuracy is not None and 0.0 <= result.test_accuracy <= 1.0


def test_local_datasets_setting_takes_comma_separated_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_image_folder(tmp_path / "pets", per_class=1)
    monkeypatch.setenv("SWEEPRANK_LOCAL_DATASETS", f"imagefolder:{folder}, npz:{tmp_path / 'absent.npz'}")
    settings = read_settings(data_dir=tmp_path / "data")
    assert settings.local_datasets == [f"imagefolder:{folder}", f"npz:{tmp_path / 'absent.npz'}"]
    # Offered only when its files are here: the web server accepts what some live trainer reports.
    assert f"imagefolder:{folder}" in settings.prepared_datasets()
    assert f"npz:{tmp_path / 'absent.npz'}" not in settings.prepared_datasets()


@pytest.mark.parametrize("value", ["cifar10", "imagefolder:relative/dir", "npz:/data/x.csv"])
def test_local_datasets_setting_refuses_other_names(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_LOCAL_DATASETS", value)
    with pytest.raises(SettingsError, match="SWEEPRANK_LOCAL_DATASETS"):
        read_settings()
