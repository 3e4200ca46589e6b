"""`sweeprank data list|prepare`: which datasets this host has, and preparing one with its library's downloader.

Preparing is the only place sweeprank reaches the network, and only when asked. Before a download it
opens one connection to the download host (or to the proxy the environment names, as the libraries
would) with a short timeout, so an offline host gets one clear line at once instead of a library
retrying for minutes. The libraries print their own progress bars (tqdm) on standard error.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broker.settings import Settings
from trials.datasets import (
    CATALOGUE,
    SOURCES,
    DatasetInfo,
    check_dataset_name,
    how_to_prepare,
    is_prepared,
    local_path,
    torchvision_class,
    torchvision_files,
)
from trials.errors import SweeprankError

PROBE_TIMEOUT_S = 5.0
TFDS_DEFAULT_HOST = "https://storage.googleapis.com/"  # where tfds keeps most of its sources
LOCAL_USAGE = (
    "Your own data: `imagefolder:/ABS/DIR` (one sub-folder per class, or train/ and test/ each holding them; "
    "images of any size, centre-cropped and resized to SWEEPRANK_IMAGEFOLDER_SIDE_PX, greyscale when most are) "
    "or `npz:/ABS/FILE.npz` (uint8 x_train, x_test of shape (N, H, W) or (N, H, W, C); integer y_train, y_test). "
    "List them in SWEEPRANK_LOCAL_DATASETS (comma-separated) on each trainer host to offer them to sweeps."
)


class OfflineError(SweeprankError):
    """The download host cannot be reached; the message is one line."""


# --- list --------------------------------------------------------------------------------------


def _local_where(name: str, settings: Settings) -> str:
    return str(local_path(name))


#: Where each source of trials.datasets.SOURCES keeps a dataset on this host (keyed by the same ids).
WHERE: dict[str, Callable[[str, Settings], str]] = {
    "debian": lambda name, settings: str(settings.fashion_mnist_dir),
    "sklearn": lambda name, settings: "scikit-learn",
    "torchvision": lambda name, settings: str(settings.torchvision_root),
    "tfds": lambda name, settings: str(settings.tfds_root / name.removeprefix("tfds:")),
    "imagefolder": _local_where,
    "npz": _local_where,
}


def _where(info: DatasetInfo, settings: Settings) -> str:
    return WHERE[info.source](info.name, settings)


def dataset_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every catalogue dataset, every tfds one found here and every local one configured, with its status."""
    prepared = set(settings.prepared_datasets())
    names = [*CATALOGUE, *sorted(n for n in prepared if n.startswith("tfds:")), *settings.local_datasets]
    rows = []
    for name in names:
        info = check_dataset_name(name)
        rows.append(
            {
                "name": name,
                "source": info.source,
                "prepared": is_prepared(name, prepared),
                "where": _where(info, settings),
                "description": info.description,
            }
        )
    return rows


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    rows = dataset_rows(settings)
    if args.json:
        sources = [{"id": s.id, "shape": s.shape, "description": s.description} for s in SOURCES.values()]
        print(json.dumps({"datasets": rows, "sources": sources, "local_usage": LOCAL_USAGE}, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows)
    print(f"{'dataset':<{width}}  {'source':<11}  {'prepared':<8}  where")
    for row in rows:
        print(f"{row['name']:<{width}}  {row['source']:<11}  {'yes' if row['prepared'] else 'no':<8}  {row['where']}")
    print()
    print(LOCAL_USAGE)
    return 0


# --- prepare -----------------------------------------------------------------------------------


def _target(url: str) -> tuple[str, int]:
    """The host and port a download of `url` connects to first: the environment's proxy, if any applies."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return proxy_parts.hostname or "", proxy_parts.port or 8080
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def probe(url: str, name: str, root: Path, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise OfflineError unless a connection to `url`'s host (or proxy) opens within `timeout_s`."""
    host, port = _target(url)
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(err)

    # A thread, because name resolution ignores socket timeouts and can hang on a host with no DNS.
    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome or outcome[0] is not None:
        why = f"{outcome[0]}" if outcome else f"no answer in {timeout_s:g} s"
        raise OfflineError(
            f"cannot download {name}: {host}:{port} is unreachable ({why}); this host looks offline: "
            f"prepare it on one with network and copy {root} here"
        )


def _torchvision_url(cls: Any) -> str:
    mirrors = getattr(cls, "mirrors", None)
    if mirrors:
        return str(mirrors[0])
    if hasattr(cls, "url"):
        return str(cls.url)
    return str(next(iter(cls.split_list.values()))[0])


def prepare_torchvision(name: str, root: Path) -> str:
    if all((root / f).is_file() for f in torchvision_files(name)):
        return f"{name}: already prepared under {root}"
    import torchvision.datasets as tvd

    cls = getattr(tvd, torchvision_class(name))
    probe(_torchvision_url(cls), name, root)
    root.mkdir(parents=True, exist_ok=True)
    splits = [{"split": s} for s in ("train", "test")] if name == "svhn" else [{"train": t} for t in (True, False)]
    for split in splits:
        cls(str(root), download=True, **split)
    return f"{name}: prepared under {root}"


def _tfds_url(builder: Any) -> str:
    try:
        urls = list(builder.url_infos or ())
    except Exception:  # no checksums file: tfds raises assorted types
        urls = []
    return str(urls[0]) if urls else TFDS_DEFAULT_HOST


def prepare_tfds(name: str, root: Path, manual_dir: Path | None) -> str:
    import tensorflow_datasets as tfds

    builder = tfds.builder(name.removeprefix("tfds:"), data_dir=str(root), file_format="array_record")
    if builder.is_prepared():
        return f"{name}: already prepared under {root}"
    if manual_dir is None:
        probe(_tfds_url(builder), name, root)
    # try_download_gcs=False: GCS holds TFRecord copies, which the trainers cannot read without TensorFlow.
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None, try_download_gcs=False)
    builder.download_and_prepare(download_config=config)
    return f"{name}: prepared as array_record under {root}"


def prepare_local(name: str, settings: Settings) -> str:
    """Read the folder or file once, as a trainer would: it is checked, and a folder's decoding is cached."""
    from workers.trainer.data import DataRoots, load_raw

    raw = load_raw(name, DataRoots.of(settings))
    shape = "x".join(str(d) for d in raw.train_x.shape[1:])
    listed = "" if name in settings.local_datasets else "; add it to SWEEPRANK_LOCAL_DATASETS to offer it to sweeps"
    return (
        f"{name}: {len(raw.train_y)} train and {len(raw.test_y)} test images of {shape} (C x H x W), "
        f"{raw.n_classes} classes{listed}"
    )


def prepare_debian(name: str, settings: Settings) -> str:
    if name in settings.prepared_datasets():
        return f"{name}: already prepared under {settings.fashion_mnist_dir}"
    raise SweeprankError(f"{name}: {how_to_prepare(name)}")


#: How each source of trials.datasets.SOURCES prepares a name on this host (keyed by the same ids).
PREPARE: dict[str, Callable[[str, Settings, Path | None], str]] = {
    "debian": lambda name, settings, manual_dir: prepare_debian(name, settings),
    "sklearn": lambda name, settings, manual_dir: f"{name}: ships with scikit-learn; nothing to prepare",
    "torchvision": lambda name, settings, manual_dir: prepare_torchvision(name, settings.torchvision_root),
    "tfds": lambda name, settings, manual_dir: prepare_tfds(name, settings.tfds_root, manual_dir),
    "imagefolder": lambda name, settings, manual_dir: prepare_local(name, settings),
    "npz": lambda name, settings, manual_dir: prepare_local(name, settings),
}


def prepare(name: str, settings: Settings, manual_dir: Path | None = None) -> str:
    """Prepare `name` on this host; returns the line to print. Already prepared: nothing is downloaded."""
    return PREPARE[check_dataset_name(name, "dataset").source](name, settings, manual_dir)


def prepare_command(args: argparse.Namespace, settings: Settings) -> int:
    manual_dir = Path(args.manual_dir).expanduser() if args.manual_dir else None
    try:
        line = prepare(args.name, settings, manual_dir)
    except SweeprankError:
        raise
    except Exception as err:  # a library's download or build error: one line, not a traceback
        first = (str(err).strip().splitlines() or [""])[0]
        raise SweeprankError(f"cannot prepare {args.name}: {type(err).__name__}: {first}") from None
    print(line)
    return 0


def add_parser(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="datasets: which are prepared here; prepare one")
    actions = data.add_subparsers(dest="data_command", required=True)
    listing = actions.add_parser("list", help="each dataset, its source, and whether (and where) it is prepared here")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(func=list_command)
    prep = actions.add_parser(
        "prepare", help="download and prepare one with torchvision / tfds (into the roots of this host's settings)"
    )
    prep.add_argument("name", help="a catalogue name, tfds:NAME, imagefolder:/ABS/DIR or npz:/ABS/FILE.npz")
    prep.add_argument("--manual-dir", help="tfds: the folder with files the dataset asks you to download yourself")
    prep.set_defaults(func=prepare_command)
