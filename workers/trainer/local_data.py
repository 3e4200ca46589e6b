"""A lab's own data: `imagefolder:/ABS/DIR` and `npz:/ABS/FILE.npz` (README, "Configuration").

imagefolder: one sub-folder per class (sorted names are the labels 0, 1, ...); files Pillow does not
know by their extension are ignored. Every image is converted to one mode, L when most images are
greyscale (modes 1, L, LA, I, I;16, F) and RGB otherwise (ties: RGB), then centre-cropped to a square and
resized to `image_side_px` (bilinear). The split: `train/` and `test/` sub-folders, each with the class
sub-folders, when both exist; otherwise a seeded split of each class, IMAGEFOLDER_TEST_FRACTION to test.
Decoding is the slow part, so the decoded uint8 tensors are saved under the cache root, keyed by
`folder_fingerprint` (every file's path, size and mtime, and the side): a changed folder is decoded anew.

npz: arrays x_train, y_train, x_test, y_test; images uint8 (N, H, W) or (N, H, W, C); labels
integers 0..K-1. Reading it is fast, so only the process cache (workers.trainer.data) keeps it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from trials.errors import SweeprankError
from workers.trainer.array_cache import Arrays, cached
from workers.trainer.defaults import IMAGEFOLDER_TEST_FRACTION, SPLIT_SEED

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_CACHE_FORMAT = "imagefolder-v1"  # bump when decoding changes, so old cache files are not read


class LocalDataError(SweeprankError):
    """A local image folder or npz file cannot be read as a dataset; the message names the file and the rule."""


def _image_suffixes() -> frozenset[str]:
    from PIL import Image

    return frozenset(Image.registered_extensions())


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _image_files(folder: Path, suffixes: frozenset[str]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def folder_fingerprint(root: Path, side_px: int) -> str:
    """A digest of every file under `root` (relative path, size, mtime) and the side: stats only, no reads."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{root}\0{side_px}".encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _class_files(root: Path, suffixes: frozenset[str]) -> dict[str, list[Path]]:
    classes = {d.name: _image_files(d, suffixes) for d in _visible_dirs(root)}
    empty = [name for name, files in classes.items() if not files]
    if len(classes) < 2 or empty:
        raise LocalDataError(
            f"imagefolder:{root}: needs at least two class sub-folders, each with images; "
            f"found {sorted(classes)}{f', empty: {empty}' if empty else ''}"
        )
    return classes


def _split(root: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Class names and the (file, label) pairs of train and test, by the module's split rule."""
    suffixes = _image_suffixes()
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = _class_files(root / "train", suffixes)
        test = _class_files(root / "test", suffixes)
        if unknown := sorted(set(test) - set(train)):
            raise LocalDataError(f"imagefolder:{root}: test/ has classes that train/ lacks: {unknown}")
        names = sorted(train)
        label = {name: i for i, name in enumerate(names)}
        return (
            names,
            [(f, label[c]) for c in names for f in train[c]],
            [(f, label[c]) for c in sorted(test) for f in test[c]],
        )
    classes = _class_files(root, suffixes)
    names = sorted(classes)
    rng = np.random.default_rng(SPLIT_SEED)
    train_pairs: list[tuple[Path, int]] = []
    test_pairs: list[tuple[Path, int]] = []
    for label_of, name in enumerate(names):
        files = classes[name]
        order = rng.permutation(len(files))
        # Every class with two or more images gets at least one test image.
        n_test = min(len(files) - 1, max(1, round(IMAGEFOLDER_TEST_FRACTION * len(files))))
        test_pairs += [(files[i], label_of) for i in order[:n_test]]
        train_pairs += [(files[i], label_of) for i in order[n_test:]]
    return names, train_pairs, test_pairs


def _decode(pairs: list[tuple[Path, int]], mode: str, side_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image, ImageOps

    images = np.empty((len(pairs), side_px, side_px, 1 if mode == "L" else 3), dtype=np.uint8)
    for i, (path, _) in enumerate(pairs):
        try:
            with Image.open(path) as image:
                square = ImageOps.fit(image.convert(mode), (side_px, side_px), Image.Resampling.BILINEAR)
        except OSError as err:
            raise LocalDataError(f"{path}: not a readable image ({err})") from None
        images[i] = np.asarray(square).reshape(side_px, side_px, -1)
    labels = torch.tensor([label for _, label in pairs], dtype=torch.int64)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def _majority_mode(paths: list[Path]) -> str:
    from PIL import Image

    modes: Counter[str] = Counter()
    for path in paths:
        try:
            with Image.open(path) as image:  # reads the header only
                modes["L" if image.mode in _GREY_MODES else "RGB"] += 1
        except OSError as err:
            raise LocalDataError(f"{path}: not a readable image ({err})") from None
    return "L" if modes["L"] > modes["RGB"] else "RGB"


def decode_imagefolder(root: Path, side_px: int) -> Arrays:
    """The folder as uint8 (N, C, side, side) train/test tensors, labels and the class count."""
    if not root.is_dir():
        raise LocalDataError(f"imagefolder:{root}: no such folder on this host")
    names, train, test = _split(root)
    mode = _majority_mode([path for path, _ in train + test])
    train_x, train_y = _decode(train, mode, side_px)
    test_x, test_y = _decode(test, mode, side_px)
    return train_x, train_y, test_x, test_y, len(names)


def cache_name(root: Path, side_px: int) -> str:
    return f"imagefolder-{folder_fingerprint(root, side_px)}.pt"


def load_imagefolder(root: Path, side_px: int, cache_root: Path | None) -> Arrays:
    """The decoded folder, from the cache file when its fingerprint matches, else decoded and cached."""
    if not root.is_dir():
        raise LocalDataError(f"imagefolder:{root}: no such folder on this host")
    return cached(cache_root, cache_name(root, side_px), lambda: decode_imagefolder(root, side_px))


def npz_version(path: Path) -> str:
    """What the process cache is keyed by: a rewritten file is read anew."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _npz_images(path: Path, key: str, array: np.ndarray) -> torch.Tensor:
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
        raise LocalDataError(f"{path}: {key} must be uint8 (N, H, W) or (N, H, W, C), got {array.dtype} {array.shape}")
    images = torch.from_numpy(np.ascontiguousarray(array))
    return images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()


def _npz_labels(path: Path, key: str, array: np.ndarray, n_images: int) -> torch.Tensor:
    if array.dtype.kind not in "iu" or array.shape != (n_images,) or (array.size and array.min() < 0):
        raise LocalDataError(
            f"{path}: {key} must be {n_images} integer labels 0..K-1 (one per image), got {array.dtype} {array.shape}"
        )
    return torch.from_numpy(array.astype(np.int64))


def load_npz(path: Path) -> Arrays:
    """The four arrays of an npz as uint8 (N, C, H, W) images and int64 labels."""
    if not path.is_file():
        raise LocalDataError(f"npz:{path}: no such file on this host")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LocalDataError(f"npz:{path}: not a readable .npz ({err})") from None
    with archive:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive.files]
        if missing:
            raise LocalDataError(f"npz:{path}: missing arrays {missing}; has {sorted(archive.files)}")
        train_x = _npz_images(path, "x_train", archive["x_train"])
        test_x = _npz_images(path, "x_test", archive["x_test"])
        train_y = _npz_labels(path, "y_train", archive["y_train"], len(train_x))
        test_y = _npz_labels(path, "y_test", archive["y_test"], len(test_x))
    return train_x, train_y, test_x, test_y, int(max(train_y.max(), test_y.max())) + 1
