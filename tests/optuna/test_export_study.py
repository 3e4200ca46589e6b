"""`sweeprank export SWEEP --format optuna`: from a real web server over a sweep with results to a study."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import redis
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import TrialState

from broker.store import Store
from tests.conftest import database_url
from tests.webui.conftest import seed_sweep
from tests.webui.server import WebServer
from trials.optuna_space import space_distributions, to_optuna_params
from trials.space import SearchSpace
from trials.specs import EpochMetrics, TrialResult, TrialStatus

DB = 6
N_TRIALS, N_COMPLETE = 46, 40
FAILED_TRIAL = N_COMPLETE  # the first trial without a seeded result
PRUNED_TRIAL = N_COMPLETE + 1


@pytest.fixture(scope="module")
def sweep(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, Store, str]]:
    """A web server over a sweep: 40 completed trials, 1 failed on its second attempt, 1 pruned, 4 without a result."""
    url = database_url(redis_url, DB)
    redis.Redis.from_url(url).flushdb()
    store = Store.from_url(url)
    sweep_id = seed_sweep(store, n_trials=N_TRIALS, n_results=N_COMPLETE)
    for attempt, accuracies in ((1, [0.1]), (2, [0.2, 0.25])):
        for epoch, accuracy in enumerate(accuracies, start=1):
            store.results.record_epoch(epoch_of(sweep_id, FAILED_TRIAL, attempt, epoch, accuracy))
    for epoch, accuracy in ((1, 0.3), (2, 0.4)):
        store.results.record_epoch(epoch_of(sweep_id, 0, 1, epoch, accuracy))
    spec = store.sweeps.trial_spec(sweep_id, FAILED_TRIAL)
    store.results.save(
        TrialResult.of(spec.model_copy(update={"attempt": 2}), TrialStatus.FAILED, error="CUDA out of memory")
    )
    store.results.record_epoch(epoch_of(sweep_id, PRUNED_TRIAL, 1, 1, 0.05))
    pruned = TrialResult.of(store.sweeps.trial_spec(sweep_id, PRUNED_TRIAL), TrialStatus.PRUNED, test_accuracy=0.05)
    store.results.save(pruned)
    server = WebServer(url, tmp_path_factory.mktemp("web") / "web.log")
    server.start()
    yield server, store, sweep_id
    server.stop()


def epoch_of(sweep_id: str, trial_id: int, attempt: int, epoch: int, accuracy: float) -> EpochMetrics:
    return EpochMetrics(
        sweep_id=sweep_id,
        trial_id=trial_id,
        attempt=attempt,
        epoch=epoch,
        train_loss=1.0,
        val_accuracy=accuracy,
        seconds=1.0,
    )


def sweeprank(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweeprank", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", ["study.db", "study.journal"])
def test_the_exported_study_opens_with_every_finished_trial(
    kind: str, sweep: tuple[WebServer, Store, str], tmp_path: Path
) -> None:
    web, store, sweep_id = sweep
    output = tmp_path / kind
    done = sweeprank("export", sweep_id, "--format", "optuna", "-o", str(output), "--url", web.url)
    assert done.returncode == 0, done.stderr
    assert f"wrote study {sweep_id} to {output}: {N_COMPLETE} COMPLETE, 1 PRUNED, 1 FAIL; skipped 4" in done.stdout
    storage = f"sqlite:///{output}" if kind == "study.db" else JournalStorage(JournalFileBackend(str(output)))
    study = optuna.load_study(study_name=sweep_id, storage=storage)
    assert study.direction == StudyDirection.MAXIMIZE
    assert study.user_attrs["metric"] == "test_accuracy"
    space = SearchSpace.from_dict(store.sweeps.get(sweep_id).space)
    results = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
    trials = {t.user_attrs["sweeprank_trial_id"]: t for t in study.trials}
    assert sorted(trials) == sorted(results)
    for trial_id, trial in trials.items():
        result = results[trial_id]
        assert trial.params == to_optuna_params(space, result.config)
        assert trial.distributions == space_distributions(space)
        assert trial.user_attrs["dataset"] == result.dataset
        if trial_id == FAILED_TRIAL:
            assert trial.state == TrialState.FAIL and trial.value is None
            assert trial.user_attrs["error"] == "CUDA out of memory"
            assert trial.intermediate_values == {1: 0.2, 2: 0.25}  # the attempt that gave the result only
        elif trial_id == PRUNED_TRIAL:
            assert trial.state == TrialState.PRUNED and trial.intermediate_values == {1: 0.05}
        else:
            assert trial.state == TrialState.COMPLETE
            assert trial.value == pytest.approx(result.test_accuracy)
    assert trials[0].intermediate_values == {1: 0.3, 2: 0.4}


def test_the_study_ranks_as_the_sweep_does_and_is_not_written_twice(
    sweep: tuple[WebServer, Store, str], tmp_path: Path
) -> None:
    web, _, sweep_id = sweep
    output = str(tmp_path / "study.db")
    assert sweeprank("export", sweep_id, "--format", "optuna", "-o", output, "--url", web.url).returncode == 0
    ranked = sweeprank("rank", "--optuna-storage", output, "--bootstrap", "20")
    assert ranked.returncode == 0, ranked.stderr
    assert f"ranking the {N_COMPLETE} COMPLETE; skipped 1 pruned, 1 failed" in ranked.stdout
    # seed_sweep's accuracy rises with the learning rate far more than with anything else.
    lines = ranked.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "name"])
    assert lines[header + 1].split()[1] == "learning_rate"
    again = sweeprank("export", sweep_id, "--format", "optuna", "-o", output, "--url", web.url)
    assert again.returncode == 2
    assert f"already holds a study '{sweep_id}'" in again.stderr
    no_file = sweeprank("export", sweep_id, "--format", "optuna", "--url", web.url)
    assert no_file.returncode == 2 and "give -o study.db" in no_file.stderr
