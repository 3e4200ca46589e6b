"""The tfds path end to end, offline: build a custom dataset as array_record, read it as tfds:NAME, train on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.settings import Settings
from tests.workers.conftest import SpecFactory
from tests.workers.tfds_fixture import tiny_shapes
from trials.specs import TrialStatus
from workers.trainer.data import DataRoots, load_dataset, load_raw
from workers.trainer.loop import run_trial

DATASET = f"tfds:{tiny_shapes.NAME}"


@pytest.fixture
def roots(tfds_dir: Path) -> DataRoots:
    return DataRoots.of(Settings(tfds_dir=tfds_dir))


def test_build_writes_array_record_files(tfds_dir: Path) -> None:
    written = sorted(p.name for p in (tfds_dir / tiny_shapes.NAME / "1.0.0").iterdir())
    assert any(".array_record-" in name and "-train." in name for name in written)
    assert "dataset_info.json" in written


def test_images_decode_to_what_the_builder_wrote(roots: DataRoots) -> None:
    raw = load_raw(DATASET, roots)
    assert raw.train_x.shape == (90, 3, 8, 8) and raw.test_x.shape == (30, 3, 8, 8)
    assert raw.n_classes == tiny_shapes.N_CLASSES
    # The array_record shuffle reorders examples; match each decoded image to its source by content.
    expected = {tiny_shapes.example("train", i)[0].tobytes(): tiny_shapes.example("train", i)[1] for i in range(90)}
    decoded = {raw.train_x[i].permute(1, 2, 0).numpy().tobytes(): int(raw.train_y[i]) for i in range(90)}
    assert decoded == expected


def test_prepared_split_keeps_three_channels(roots: DataRoots) -> None:
    prepared = load_dataset(DATASET, roots=roots)
    assert (len(prepared.train_y), len(prepared.val_y), len(prepared.test_y)) == (81, 9, 30)
    assert prepared.in_channels == 3 and len(prepared.mean) == 3


def test_trains_one_epoch_on_a_tfds_dataset(roots: DataRoots, make_spec: SpecFactory) -> None:
    result = run_trial(make_spec(dataset=DATASET, epochs=1, batch_size=32), roots=roots)
    assert result.status is TrialStatus.COMPLETED, result.error
    assert result.epochs_completed == 1
    assert result.test_accuracy is not None and 0.0 <= result.test_accuracy <= 1.0
