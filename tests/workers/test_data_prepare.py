"""`sweeprank data prepare`, offline: tfds from a manual_dir, torchvision roots already there, the offline line.

The package's no_network fixture makes every connection fail at once, as on a host without network.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from broker.settings import Settings
from sweeprank.data_cmd import OfflineError, prepare
from tests.cli.data_command import run_data_command
from trials.datasets import torchvision_files
from trials.errors import SweeprankError
from workers.trainer.data import DataRoots, load_raw

MANUAL_NAME = "manual_squares"
MANUAL_SPLITS = {"train": 12, "test": 6}


def _square(label: int, index: int) -> np.ndarray:
    rng = np.random.default_rng([label, index])
    return (rng.integers(0, 60, size=(6, 6, 1), dtype=np.uint8) + np.uint8(100 * label)).astype(np.uint8)


def write_manual_files(manual_dir: Path) -> Path:
    """What a user downloads by hand: PNGs named SPLIT-LABEL-INDEX.png."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    for split, n in MANUAL_SPLITS.items():
        for i in range(n):
            Image.fromarray(_square(i % 2, i)[:, :, 0], mode="L").save(manual_dir / f"{split}-{i % 2}-{i}.png")
    return manual_dir


class ManualSquares(tfds.core.GeneratorBasedBuilder):
    """A dataset whose files must be put in manual_dir, as tfds datasets behind a licence are."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put SPLIT-LABEL-INDEX.png files in manual_dir."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(6, 6, 1), encoding_format="png"),
                    "label": tfds.features.ClassLabel(num_classes=2),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
        return {split: self._generate_examples(Path(dl_manager.manual_dir), split) for split in MANUAL_SPLITS}

    def _generate_examples(self, manual_dir: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for png in sorted(manual_dir.glob(f"{split}-*.png")):
            yield png.stem, {"image": io.BytesIO(png.read_bytes()), "label": int(png.stem.split("-")[1])}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_tfds_dataset_is_prepared_from_its_manual_dir_as_array_record(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    manual = write_manual_files(tmp_path / "downloads")
    assert run_data_command(settings, "prepare", f"tfds:{MANUAL_NAME}", "--manual-dir", str(manual)) == 0
    assert "prepared as array_record" in capsys.readouterr().out
    written = [p.name for p in (settings.tfds_root / MANUAL_NAME / "1.0.0").iterdir()]
    assert any(".array_record-" in name for name in written)
    assert f"tfds:{MANUAL_NAME}" in settings.prepared_datasets()
    raw = load_raw(f"tfds:{MANUAL_NAME}", DataRoots.of(settings))  # what a trainer reads
    assert raw.train_x.shape == (12, 1, 6, 6) and raw.test_x.shape == (6, 1, 6, 6) and raw.n_classes == 2

    assert run_data_command(settings, "prepare", f"tfds:{MANUAL_NAME}") == 0  # no manual_dir, no network needed
    assert "already prepared" in capsys.readouterr().out


def test_tfds_dataset_without_manual_dir_offline_fails_with_one_line(settings: Settings) -> None:
    with pytest.raises(OfflineError, match=r"^cannot download tfds:manual_squares: .* unreachable") as caught:
        prepare(f"tfds:{MANUAL_NAME}", settings)
    assert "\n" not in str(caught.value)


def test_unknown_tfds_dataset_is_one_line(settings: Settings) -> None:
    with pytest.raises(SweeprankError, match="cannot prepare tfds:no_such_set_here: DatasetNotFoundError") as caught:
        run_data_command(settings, "prepare", "tfds:no_such_set_here")
    assert "\n" not in str(caught.value)


def test_existing_torchvision_root_is_detected_as_prepared_without_a_download(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for relative in torchvision_files("mnist"):
        path = settings.torchvision_root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"idx")
    assert run_data_command(settings, "prepare", "mnist") == 0  # any connection would raise here
    assert capsys.readouterr().out.strip() == f"mnist: already prepared under {settings.torchvision_root}"
    assert all((settings.torchvision_root / f).read_bytes() == b"idx" for f in torchvision_files("mnist"))


@pytest.mark.parametrize("name", ["mnist", "kmnist", "cifar10", "svhn"])
def test_torchvision_download_offline_fails_at_once_with_one_line(name: str, settings: Settings) -> None:
    with pytest.raises(OfflineError) as caught:
        prepare(name, settings)
    message = str(caught.value)
    assert message.startswith(f"cannot download {name}: ") and "unreachable" in message and "\n" not in message
    assert not settings.torchvision_root.exists()  # nothing half-written


def test_fashion_mnist_cannot_be_downloaded_and_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SweeprankError, match="dataset-fashion-mnist"):
        prepare("fashion_mnist", Settings(fashion_mnist_dir=tmp_path))
