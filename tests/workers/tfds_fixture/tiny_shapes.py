"""`tiny_shapes`: 8×8 RGB images whose label is the brightest channel, built fully offline.

Images are handed to tfds as PNG bytes: encoding numpy arrays would need TensorFlow.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

NAME = "tiny_shapes"
SIZE_PX = 8
N_CLASSES = 3
SPLITS = {"train": (90, 0), "test": (30, 1)}  # split: (examples, seed)


def example(split: str, index: int) -> tuple[np.ndarray, int]:
    """The image (H, W, C) uint8 and label of one example; the test recomputes these."""
    _, seed = SPLITS[split]
    rng = np.random.default_rng([seed, index])
    label = index % N_CLASSES
    image = rng.integers(0, 96, size=(SIZE_PX, SIZE_PX, 3), dtype=np.uint8)
    image[:, :, label] += 128
    return image, label


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class TinyShapes(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(SIZE_PX, SIZE_PX, 3), encoding_format="png"),
                    "label": tfds.features.ClassLabel(num_classes=N_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator[tuple[int, dict[str, Any]]]]:
        return {split: self._generate_examples(split) for split in SPLITS}

    def _generate_examples(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        for index in range(SPLITS[split][0]):
            image, label = example(split, index)
            yield index, {"image": _png(image), "label": label}


def build(data_dir: Path) -> Path:
    """Prepare the dataset as array_record under data_dir, offline."""
    builder = TinyShapes(data_dir=str(data_dir), file_format="array_record")
    # try_download_gcs=False: never ask GCS for a prepared copy (GCS is off by default in 4.9.10; be explicit).
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return data_dir
