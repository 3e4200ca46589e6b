"""A lab's own data, written by tests: an image folder of PNGs and an npz, both learnable (label = brightness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "eel")


def class_image(label: int, index: int, size: tuple[int, int], mode: str) -> Image.Image:
    """An image whose brightness band says its class; sizes and modes vary as a lab's photos do."""
    rng = np.random.default_rng([label, index])
    base = rng.integers(0, 60, size=(size[1], size[0], 3), dtype=np.uint8) + np.uint8(80 * label)
    return Image.fromarray(base, mode="RGB").convert(mode)


def write_image_folder(
    root: Path, per_class: int = 10, modes: tuple[str, ...] = ("L",), sizes: tuple[tuple[int, int], ...] = ((20, 14),)
) -> Path:
    """One sub-folder per class of PNGs, cycling through `modes` and `sizes`; returns root."""
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = class_image(label, i, sizes[i % len(sizes)], modes[i % len(modes)])
            image.save(root / name / f"{i:03d}.png")
    (root / "README.txt").write_text("not an image: ignored")
    return root


def write_npz(path: Path, n_train: int = 60, n_test: int = 20, channels: int | None = 3, side: int = 8) -> Path:
    """x_* uint8 (N, H, W[, C]) with labels 0..2 by brightness; returns path."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % len(CLASSES)
        shape = (n, side, side) if channels is None else (n, side, side, channels)
        noise = rng.integers(0, 60, size=shape, dtype=np.uint8)
        return (noise + (80 * labels).astype(np.uint8).reshape((n,) + (1,) * (len(shape) - 1))), labels

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
