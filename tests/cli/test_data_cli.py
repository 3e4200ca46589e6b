"""`sweeprank data list` and the offline line of `data prepare` as a user runs them; a sweep on a lab's image folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from broker.sweep_actions import plan_trials
from sweeprank.stack import free_port
from tests.cli.data_command import run_data_command
from tests.conftest import database_url
from tests.integration.conftest import tiny_spec
from tests.workers.local_images import write_image_folder, write_npz
from trials.datasets import torchvision_files
from trials.specs import SpecInvalid, TrialStatus, parse_sweep_spec
from webui.submission import PreparedDatasets
from workers.trial_runner import TrialRunner


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A host with cifar10 prepared, an image folder and a listed npz that is not there (yet)."""
    data_dir = tmp_path / "data"
    for relative in torchvision_files("cifar10"):
        (data_dir / "torchvision" / relative).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / "torchvision" / relative).write_bytes(b"")
    folder = write_image_folder(tmp_path / "pets", per_class=5)
    local = [f"imagefolder:{folder}", f"npz:{tmp_path / 'later.npz'}"]
    return Settings(data_dir=data_dir, local_datasets=local, imagefolder_side_px=12)


def test_data_list_shows_each_dataset_whether_and_where_it_is_prepared(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_data_command(settings, "list") == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line and not line.startswith("Your")}
    assert rows["cifar10"] == ["torchvision", "yes", str(settings.torchvision_root)]
    assert rows["svhn"] == ["torchvision", "no", str(settings.torchvision_root)]
    assert rows["digits"] == ["sklearn", "yes", "scikit-learn"]
    assert rows[f"imagefolder:{tmp_path / 'pets'}"] == ["imagefolder", "yes", str(tmp_path / "pets")]
    assert rows[f"npz:{tmp_path / 'later.npz'}"] == ["npz", "no", str(tmp_path / "later.npz")]
    assert "imagefolder:/ABS/DIR" in out and "SWEEPRANK_LOCAL_DATASETS" in out


def test_data_list_json_has_the_same_rows(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_data_command(settings, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    prepared = {row["name"] for row in listed["datasets"] if row["prepared"]}
    assert prepared == {"cifar10", "digits", "fashion_mnist", settings.local_datasets[0]}
    assert {row["source"] for row in listed["datasets"]} >= {"torchvision", "imagefolder", "npz", "sklearn"}
    assert "npz:/ABS/FILE.npz" in listed["local_usage"]


def test_prepare_reads_a_local_npz_and_says_what_it_holds(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_npz(tmp_path / "later.npz", n_train=30, n_test=9, channels=None)
    assert run_data_command(settings, "prepare", settings.local_datasets[1]) == 0
    assert "30 train and 9 test images of 1x8x8 (C x H x W), 3 classes" in capsys.readouterr().out


@pytest.mark.slow
def test_prepare_offline_fails_at_once_with_one_line(tmp_path: Path) -> None:
    """The real command, in its own process, on a host whose only way out is a proxy that refuses."""
    refusing_proxy = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    env.update(
        SWEEPRANK_DATA_DIR=str(tmp_path),
        HTTPS_PROXY=refusing_proxy,
        HTTP_PROXY=refusing_proxy,
        https_proxy=refusing_proxy,
        http_proxy=refusing_proxy,
    )
    done = subprocess.run(
        [sys.executable, "-m", "sweeprank", "data", "prepare", "cifar10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweeprank: cannot download cifar10: 127.0.0.1:"), done.stderr
    assert "unreachable" in lines[0] and "copy" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing downloaded, nothing half-written


def test_sweep_of_two_trials_trains_on_an_image_folder(
    settings: Settings, redis_url: str, scratch_redis: redis.Redis
) -> None:
    """Through the real trial runner and store: what a trainer does with each trial it is sent."""
    name = settings.local_datasets[0]
    settings = settings.model_copy(update={"redis_url": database_url(redis_url, 2)})
    store = Store.from_url(settings.redis_url)
    spec = parse_sweep_spec(tiny_spec(n_trials=2, datasets=[name]))
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    runner = TrialRunner(store, settings, "cpu@test", "cpu", Dispatcher(store, make_celery(settings), settings))
    for trial_id in range(2):
        runner.run(store.sweeps.trial_spec(sweep_id, trial_id))
    results = store.results.in_arrival_order(sweep_id)
    assert [r.status for r in results] == [TrialStatus.COMPLETED] * 2, [r.error for r in results]
    assert {r.dataset for r in results} == {name}
    assert len(list(settings.dataset_cache_root.glob("imagefolder-*.pt"))) == 1


def test_submissions_name_only_local_data_a_trainer_offers(settings: Settings, tmp_path: Path) -> None:
    """The web server's check against what trainers report: an unlisted folder is refused even though it exists."""
    offered = PreparedDatasets(frozenset(settings.prepared_datasets()), "any live trainer")
    offered.check(parse_sweep_spec(tiny_spec(datasets=[settings.local_datasets[0]])))
    unlisted = write_image_folder(tmp_path / "elsewhere", per_class=1)
    with pytest.raises(SpecInvalid, match="SWEEPRANK_LOCAL_DATASETS"):
        offered.check(parse_sweep_spec(tiny_spec(datasets=[f"imagefolder:{unlisted}"])))
