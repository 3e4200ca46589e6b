"""deploy/ stays in step with the code: every unit runs a real `sweeprank` command line, every setting exists."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from broker.settings import ENV_PREFIX, Settings
from sweeprank.cli import build_parser
from sweeprank.stack import AOF_REWRITE_MIN_SIZE, AOF_REWRITE_PERCENTAGE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
GPU_INDEX = "0"  # what systemd puts for %i in sweeprank-trainer@0


def read_unit(path: Path) -> configparser.ConfigParser:
    # Keys may repeat in a unit (EnvironmentFile); the last one is enough for these checks.
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(path)
    return unit


def settings_in(lines: list[str]) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_three_services_are_shipped() -> None:
    names = [p.name for p in UNITS]
    assert names == ["sweeprank-analyst.service", "sweeprank-trainer@.service", "sweeprank-web.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_a_unit_runs_a_command_line_the_cli_accepts(path: Path) -> None:
    argv = shlex.split(read_unit(path)["Service"]["ExecStart"].replace("%i", GPU_INDEX))
    assert Path(argv[0]).name == "sweeprank"
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{path.name}: `sweeprank` refuses {shlex.join(argv[1:])}")
    assert path.name.startswith(f"sweeprank-{'trainer' if args.command == 'worker' else args.command}")


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_a_unit_restarts_on_failure_as_its_own_user_after_the_network(path: Path) -> None:
    unit = read_unit(path)
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and int(service["RestartSec"]) > 0
    assert service["User"] == "sweeprank"
    assert "network-online.target" in unit["Unit"]["After"].split()
    assert service["EnvironmentFile"].startswith("-/etc/sweeprank/"), "a per-service file after the shared one"
    # SIGTERM to the main process only: a Celery parent's warm shutdown hands trials back.
    assert service["KillMode"] == "mixed"


def test_a_trainer_owns_its_gpu_and_has_time_to_hand_its_trial_back() -> None:
    service = read_unit(DEPLOY / "sweeprank-trainer@.service")["Service"]
    assert service["Environment"] == "CUDA_VISIBLE_DEVICES=%i"
    assert int(service["TimeoutStopSec"]) >= 300


def test_the_env_file_sets_only_settings_that_exist() -> None:
    settings = settings_in((DEPLOY / "sweeprank.env").read_text().splitlines())
    assert "SWEEPRANK_REDIS_URL" in settings
    unknown = {key for key in settings if key.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields}
    assert not unknown


def test_redis_keeps_an_append_only_file_and_lets_in_only_acl_users() -> None:
    config = dict(
        line.split(None, 1)
        for line in (DEPLOY / "redis-sweeprank.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert config["appendonly"] == "yes" and config["appendfsync"] in ("everysec", "always")
    assert config["auto-aof-rewrite-percentage"] == str(AOF_REWRITE_PERCENTAGE)
    assert config["auto-aof-rewrite-min-size"] == AOF_REWRITE_MIN_SIZE, "rewritten as `sweeprank up` does"
    assert Path(config["aclfile"]).name == "redis-users.acl"
