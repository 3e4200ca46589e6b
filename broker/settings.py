"""Every setting of every sweeprank process, in one object (README, "Configuration").

`Settings()` reads the environment (prefix SWEEPRANK_) over laptop defaults. A process
reads it once, at its entry point (`process_settings()`: the command line, the trainers'
Celery app, the web app factory) and passes the object down; no other module reads
SWEEPRANK_ variables (tests/test_layout.py checks this). A child process is given its
settings through the environment it is started with.

The README's settings table is generated from the fields below: `python -m broker.settings`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trials.datasets import check_dataset_name, local_path, prepared_datasets
from trials.errors import SpecError, SweeprankError

ENV_PREFIX = "SWEEPRANK_"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_WEB_URL = "http://127.0.0.1:8000"


class SettingsError(SweeprankError):
    """A SWEEPRANK_ variable holds a value its setting cannot take."""


def _setting(default: Any, meaning: str, shown: str | None = None) -> Any:
    """A field with the README's meaning, and how its default reads there when the value alone would not say."""
    if shown is None:
        return Field(default, description=meaning)
    return Field(default, description=meaning, json_schema_extra={"shown_default": shown})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True, validate_default=True
    )

    # --- Redis and Celery ---
    redis_url: str = _setting(
        DEFAULT_REDIS_URL, "Redis for the broker and the store (`rediss://` and `redis://:password@host` work)"
    )
    # Celery redelivers a task not acknowledged within this time, so it must
    # exceed every hard time limit (celery#5935); 25 h covers any sane trial.
    visibility_timeout_s: int = _setting(
        25 * 3600, "Redis redelivers unacknowledged trials after this; every hard limit is kept below it"
    )
    unacked_restore_every_s: int = _setting(
        10, "how often trainers look for unacknowledged trials past the visibility timeout"
    )
    claim_ttl_s: int = _setting(120, "a running trial whose worker stops refreshing its claim this long is re-queued")
    worker_ttl_s: int = _setting(30, "a trainer whose last heartbeat is older than this no longer counts as a slot")
    reconcile_every_s: float = _setting(5.0, "how often the analyst looks for lost trials")
    analyst_beat_s: float = _setting(2.0, "how often the analyst sends its heartbeat, busy or idle")
    analyst_beat_ttl_s: float = _setting(
        10.0, "an analyst whose last heartbeat is older than this is reported down (health, sweep pages, status)"
    )

    # --- trainers ---
    device: str = _setting("cpu", "set by `sweeprank worker` (`cuda` with `--gpu`)")
    torch_threads: int | None = _setting(None, "torch threads per CPU trainer process", shown="unset")
    fashion_mnist_dir: Path = _setting(Path("/usr/share/datasets/fashion-mnist"), "idx files of Fashion-MNIST")
    data_dir: Path = _setting(
        Path("~/.cache/sweeprank/data"),
        "where prepared datasets live (the two below default inside it) and decoded image folders "
        "and the digits split are cached",
    )
    torchvision_dir: Path | None = _setting(
        None,
        "torchvision roots (mnist, kmnist, cifar10, svhn), prepared beforehand",
        shown="`$SWEEPRANK_DATA_DIR/torchvision`",
    )
    tfds_dir: Path | None = _setting(
        None, "tfds datasets prepared as array_record (`tfds:NAME`)", shown="`$SWEEPRANK_DATA_DIR/tfds`"
    )
    # NoDecode: a comma-separated list, not JSON, so an operator writes plain names.
    local_datasets: Annotated[list[str], NoDecode] = _setting(
        [],
        "this host's own data offered to sweeps, comma-separated: `imagefolder:/ABS/DIR` and `npz:/ABS/FILE.npz`",
        shown="none",
    )
    imagefolder_side_px: int = _setting(
        32, "`imagefolder:` images are centre-cropped to a square and resized to this side"
    )

    # --- archive ---
    archive_dir: Path | None = _setting(
        None,
        "finished sweeps archived out of Redis, one SQLite file each (`sweeprank archive`); keep it on durable storage",
        shown="`$SWEEPRANK_DATA_DIR/archive`",
    )
    archive_after_s: float = _setting(
        7 * 24 * 3600.0,
        "the analyst archives a finished sweep this long after it ended (seconds; 0 turns automatic archiving off)",
        shown="604800 (7 days)",
    )

    # --- web ---
    public_read: bool = _setting(True, "read-only pages and GET API without login")
    cookie_secure: bool = _setting(
        False, "send the login cookie over HTTPS only: set it when a TLS proxy fronts the web server"
    )
    trusted_proxies: int = _setting(
        0,
        "proxies in front of the web server whose X-Forwarded-For/-Proto/-Host are believed (rate limits then key "
        "on the real client); 0 believes none, so a client cannot forge its address",
    )
    secret_key: SecretStr | None = _setting(None, "session-signing key of the web processes", shown="shared via Redis")
    max_queued_trials_per_member: int = _setting(100_000, "submissions beyond this are refused with a field error")
    submits_per_minute: int = _setting(30, "sweep submissions per member per minute (more: HTTP 429)")
    login_attempts_per_minute: int = _setting(10, "login attempts per client address per minute")
    bad_tokens_per_minute: int = _setting(30, "requests with an unknown API token per client address per minute")
    web_redis_timeout_s: float = _setting(
        5.0, "a web request gives up on a Redis that does not answer within this (HTTP 503; a restart is ridden out)"
    )
    events_interval_s: float = _setting(0.3, "how often a live-update stream looks for changes")
    events_max_s: float = _setting(300.0, "a live-update stream ends after this; the browser reconnects")
    events_per_client: int = _setting(
        16, "live-update streams one member (or anonymous address) may hold per web process (more: HTTP 429)"
    )
    web_workers: int = _setting(2, "processes of `sweeprank web` (gunicorn workers, `--workers`)")
    web_threads: int = _setting(
        256, "threads per web process (`--threads`): each open page's live-update stream holds one"
    )
    web_keepalive_s: int = _setting(5, "an idle browser connection is kept open this long for its next request")
    web_graceful_timeout_s: int = _setting(
        5, "on SIGTERM or Ctrl-C, requests in progress get this long; live-update streams end at once"
    )
    web_access_log: bool = _setting(False, "log every request of `sweeprank web` to its standard output")

    # --- the command line's client ---
    url: str = _setting(DEFAULT_WEB_URL, "web server of `sweeprank submit/status/export/cancel` (`--url`)")
    token: SecretStr | None = _setting(None, "API token those commands send (`--token`)", shown="unset")

    @field_validator("web_workers", "web_threads")
    @classmethod
    def _at_least_one(cls, count: int) -> int:
        if count < 1:
            raise ValueError(f"must be at least 1, not {count}")
        return count

    @field_validator("imagefolder_side_px")
    @classmethod
    def _side_in_range(cls, side: int) -> int:
        if not 4 <= side <= 512:
            raise ValueError(f"must be between 4 and 512 pixels, not {side}")
        return side

    @field_validator("local_datasets", mode="before")
    @classmethod
    def _split_names(cls, names: Any) -> Any:
        return [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else names

    @field_validator("local_datasets")
    @classmethod
    def _local_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if local_path(name) is None:
                raise ValueError(f"{name!r} is not an imagefolder:/ABS/DIR or npz:/ABS/FILE.npz name")
            try:
                check_dataset_name(name)
            except SpecError as err:
                raise ValueError(err.message) from None
        return names

    @field_validator("archive_after_s")
    @classmethod
    def _not_negative(cls, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"must be 0 (off) or more seconds, not {seconds}")
        return seconds

    @field_validator("fashion_mnist_dir", "data_dir", "torchvision_dir", "tfds_dir", "archive_dir")
    @classmethod
    def _expand_home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @property
    def torchvision_root(self) -> Path:
        return self.torchvision_dir or self.data_dir / "torchvision"

    @property
    def tfds_root(self) -> Path:
        return self.tfds_dir or self.data_dir / "tfds"

    @property
    def archive_root(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    @property
    def dataset_cache_root(self) -> Path:
        """Prepared datasets as uint8 tensors: decoded `imagefolder:` folders (keyed by contents), the digits split."""
        return self.data_dir / "cache"

    def prepared_datasets(self) -> list[str]:
        """The datasets this host has under its data roots and of its local datasets (file presence only)."""
        return prepared_datasets(self.torchvision_root, self.tfds_root, self.fashion_mnist_dir, self.local_datasets)


def read_settings(**overrides: Any) -> Settings:
    """The environment's settings (with `overrides` on top); a bad value is a SettingsError naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


@cache
def process_settings() -> Settings:
    """This process's settings: read from the environment at the first call, the same object after."""
    return read_settings()


def _shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    return f"`{value}`"


def settings_table() -> str:
    """The README's settings table (Markdown), one row per field, in field order."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_shown_default(name)} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
