"""Model-based samplers, `tune`, sequential chains and pruning on the real stack (Redis, Celery trainers, analyst)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from flask.testing import FlaskClient
from optuna.trial import TrialState

from broker.tuning.asker import TRIAL_ATTR, study_name
from tests.helpers import wait_until
from tests.integration.conftest import LiveStack, tiny_spec, wait_for_status
from tests.integration.test_pipeline import submit
from tests.webui.server import WebServer
from trials.specs import SweepSpec

# The parent of the tune tests varies two hyperparameters with effects a 2-epoch digits net shows at
# once (the learning rate over four decades; a batch size of 32 or 512, 100 or 7 steps an epoch), one
# with little (dropout up to 0.2), and holds the rest.
PARENT_HELD = {
    "num_conv_layers": 1,
    "num_filters": 16,
    "kernel_size": 3,
    "activation": "relu",
    "fc_units": 64,
    "optimizer": "adam",
    "epochs": 2,
}
PARENT_NARROW = {"batch_size": {"choices": [32, 512]}, "dropout_rate": {"high": 0.2}}
PARENT_TRIALS = 60


def study(live: LiveStack, sweep_id: str, dataset: str = "digits") -> optuna.Study:
    return optuna.load_study(
        study_name=study_name(sweep_id, dataset), storage=live.store.studies.storage(sweep_id, dataset)
    )


def assert_one_study_trial_per_trial(live: LiveStack, sweep_id: str, n_trials: int) -> None:
    """Every trial was asked once, its config is the study trial's, and the study was told its result."""
    trials = study(live, sweep_id).get_trials(deepcopy=False)
    assert len(trials) == n_trials, [t.state for t in trials]
    by_trial = {int(t.user_attrs[TRIAL_ATTR]): t for t in trials}
    assert sorted(by_trial) == list(range(n_trials))
    spec = live.store.sweeps.spec(sweep_id)
    for trial_id, frozen in by_trial.items():
        result = live.store.results.get(sweep_id, trial_id)
        assert result is not None
        assert live.store.sweeps.study_trial(sweep_id, trial_id) == frozen.number
        assert {k: result.config[k] for k in frozen.params} == frozen.params
        if result.status.value == "completed":
            assert frozen.state is TrialState.COMPLETE and frozen.value == result.metric(spec.metric)
        elif result.status.value == "pruned":
            assert frozen.state is TrialState.PRUNED
        else:
            assert frozen.state is TrialState.FAIL


@pytest.mark.parametrize("sampler", ["tpe", "gp", "cmaes"])
def test_a_model_based_sweep_asks_every_config_from_its_study_and_tells_every_result(
    api: FlaskClient, live: LiveStack, sampler: str
) -> None:
    sweep_id = submit(api, tiny_spec(name=sampler, n_trials=8, sampler=sampler))
    sweep = wait_for_status(api, sweep_id, ("completed",), timeout_s=180)
    assert sweep["sampler"] == sampler
    # The analyst tells the last results after the sweep completed: wait for the study to hear them.
    wait_until(
        lambda: all(t.state.is_finished() for t in study(live, sweep_id).get_trials(deepcopy=False)),
        60,
        what="every study trial told",
    )
    assert_one_study_trial_per_trial(live, sweep_id, 8)


@pytest.fixture(scope="module")
def parent(live: LiveStack) -> str:
    """A finished sweep whose ranking says the learning rate matters (the tune tests start from it)."""
    from tests.integration.conftest import authed_client

    client = authed_client(live.redis_url, "ann")
    spec = tiny_spec(name="explore", n_trials=PARENT_TRIALS, fixed=PARENT_HELD, narrow=PARENT_NARROW)
    sweep_id = submit(client, spec)
    wait_for_status(client, sweep_id, ("completed",), timeout_s=300)
    wait_until(
        lambda: (r := live.store.rankings.latest(sweep_id)) is not None and r.n_results == PARENT_TRIALS,
        60,
        what="the parent's final ranking",
    )
    return sweep_id


def matters(live: LiveStack, sweep_id: str) -> list[str]:
    ranking = live.store.rankings.latest(sweep_id)
    assert ranking is not None and all(row.verdict is not None for row in ranking.pooled.rows)
    return ranking.pooled.with_verdict("matters")


def best_config(live: LiveStack, sweep_id: str) -> dict[str, Any]:
    results = [r for r in live.store.results.in_arrival_order(sweep_id) if r.status.value == "completed"]
    return dict(max(results, key=lambda r: (r.test_accuracy or 0.0, -r.trial_id)).config)


def test_tune_varies_only_the_top_k_that_matter_and_holds_the_rest_at_the_best_trial(
    api: FlaskClient, live: LiveStack, parent: str
) -> None:
    mattering = matters(live, parent)
    pooled = live.store.rankings.latest(parent).pooled  # type: ignore[union-attr]
    assert "learning_rate" in mattering, (pooled.rows, pooled.n_trials)

    response = api.post(f"/api/sweeps/{parent}/tune", json={"top": 1, "trials": 6, "sampler": "tpe"})
    assert response.status_code == 201, response.get_json()
    child_id = response.get_json()["id"]
    child = wait_for_status(api, child_id, ("completed",), timeout_s=180)

    assert child["parent"] == parent and child["sampler"] == "tpe"
    spec = SweepSpec.model_validate(child["spec"])
    tuned = mattering[:1]
    assert spec.tune is not None and spec.tune.tuned == tuned
    assert list(child["space"]["parameters"]) == tuned
    best = best_config(live, parent)
    assert spec.fixed == {k: v for k, v in best.items() if k not in tuned}
    assert spec.datasets == ["digits"] and spec.metric == "test_accuracy"
    results = live.store.results.in_arrival_order(child_id)
    assert len(results) == 6
    for result in results:
        assert {k: v for k, v in result.config.items() if k not in tuned} == spec.fixed
    varied = {result.config[tuned[0]] for result in results}
    assert len(varied) > 1, "the tuned hyperparameter varies"
    assert child_id in api.get(f"/api/sweeps/{parent}/summary").get_json()["lineage"]["children"]


def test_tune_refuses_clearly_when_nothing_can_be_tuned(api: FlaskClient, live: LiveStack) -> None:
    fresh = submit(api, tiny_spec(name="unranked", n_trials=2))
    response = api.post(f"/api/sweeps/{fresh}/tune", json={"top": 1, "trials": 6})
    assert response.status_code == 400
    assert "ranking" in response.get_json()["error"] or "verdict" in response.get_json()["error"]
    bad = api.post(f"/api/sweeps/{fresh}/tune", json={"sequential": True, "group_size": 1})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "sequential"


def test_a_sequential_chain_tunes_group_after_group_holding_each_best(
    api: FlaskClient, live: LiveStack, parent: str
) -> None:
    mattering = matters(live, parent)
    if len(mattering) < 2:
        pytest.fail(f"the parent's ranking must find two hyperparameters that matter, found {mattering}")
    request = {"top": 2, "sequential": True, "group_size": 1, "trials_per_group": 4, "sampler": "tpe"}
    response = api.post(f"/api/sweeps/{parent}/tune", json=request)
    assert response.status_code == 201, response.get_json()
    first = response.get_json()["id"]
    wait_for_status(api, first, ("completed",), timeout_s=180)
    second = wait_until(lambda: live.store.sweeps.next_in_chain(first), 60, what="the chain's second group")
    wait_for_status(api, second, ("completed",), timeout_s=180)

    one, two = live.store.sweeps.spec(first), live.store.sweeps.spec(second)
    assert one.tune is not None and two.tune is not None
    assert one.tune.tuned == [mattering[0]] and two.tune.tuned == [mattering[1]]
    assert two.tune.parent == first and two.tune.chain_root == first and two.tune.group == 1
    best_first = best_config(live, first)
    assert two.fixed == {k: v for k, v in best_first.items() if k != mattering[1]}, "group 1's best is held"
    summary = api.get(f"/api/sweeps/{second}/summary").get_json()
    assert summary["lineage"]["chain"] == [first, second]
    assert live.store.sweeps.next_in_chain(second) is None and not live.store.sweeps.open_chain_links()


def test_cancelling_a_chain_cancels_it_as_a_whole(api: FlaskClient, live: LiveStack, parent: str) -> None:
    request = {"top": 2, "sequential": True, "group_size": 1, "trials_per_group": 4, "sampler": "tpe"}
    with live.holding():  # the first group's trials wait after their first epoch, so the chain is running
        first = api.post(f"/api/sweeps/{parent}/tune", json=request).get_json()["id"]
        wait_until(lambda: live.store.trials.inflight("cpu"), 60, what="the chain's first trials")
        done = api.post(f"/api/sweeps/{first}/cancel").get_json()
    assert done == {"id": first, "status": "cancelled"}
    wait_until(lambda: not live.store.trials.inflight("cpu"), 60, what="the cancelled trials to stop")
    assert first not in live.store.sweeps.open_chain_links()
    assert live.store.sweeps.next_in_chain(first) is None


def test_a_pruned_trial_stops_early_keeps_its_curve_and_is_not_ranked(api: FlaskClient, live: LiveStack) -> None:
    held = {**PARENT_HELD, "epochs": 3}
    spec = tiny_spec(name="pruned", n_trials=20, sampler="tpe", pruner="median", fixed=held, narrow=PARENT_NARROW)
    sweep_id = submit(api, spec)
    sweep = wait_for_status(api, sweep_id, ("completed",), timeout_s=300)
    results = live.store.results.in_arrival_order(sweep_id)
    pruned = [r for r in results if r.status.value == "pruned"]
    assert pruned, "a learning rate over four decades leaves trials far below the median after an epoch"
    assert sweep["counts"]["pruned"] == len(pruned) and f"{len(pruned)} pruned" in sweep["stop_reason"]
    for result in pruned:
        assert result.epochs_completed < 3 and "pruned after epoch" in result.error
        curve = live.store.results.epoch_metrics(sweep_id, result.trial_id)
        assert [m.epoch for m in curve] == list(range(1, result.epochs_completed + 1))
        assert result.wall_time_s > 0, "its compute is counted"
    ranking = wait_until(
        lambda: (r := live.store.rankings.latest(sweep_id)) is not None and r.n_results == 20 and r,
        60,
        what="the final ranking",
    )
    assert ranking.excluded.get("pruned") == len(pruned)
    assert ranking.n_trials == 20 - len(pruned)
    assert_one_study_trial_per_trial(live, sweep_id, 20)


@pytest.fixture
def web(live: LiveStack, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(live.redis_url, tmp_path / "web.log")
    server.start()
    yield server
    server.stop()


def sweeprank(web: WebServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "sweeprank", *args, "--url", web.url, "--token", token],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_tune_command_follows_the_new_sweep_and_export_best_prints_its_best_config(
    live: LiveStack, parent: str, web: WebServer
) -> None:
    token = live.store.users.add("cli-user")
    tuned = sweeprank(web, token, "tune", parent, "--top", "1", "--trials", "4", "--sampler", "tpe").stdout
    child_id = re.search(r"in sweep (sw\d+)", tuned)
    assert child_id is not None, tuned
    child = live.store.sweeps.get(child_id[1])
    assert child.status.value == "completed" and child.parent == parent and child.owner == "cli-user"
    assert f"over {matters(live, parent)[0]}, 4 trials" in tuned
    assert "best test_accuracy" in tuned and "trainer-seconds" in tuned

    best = yaml.safe_load(sweeprank(web, token, "export", child.id, "--best").stdout)
    assert best["config"] == best_config(live, child.id) and best["sweep"] == child.id
    status = sweeprank(web, token, "status", child.id).stdout
    assert re.search(r"best test_accuracy [0-9.]+: trial \d+ \(digits\), after 4 trials", status), status

    with live.holding():  # group 1's trials wait after their first epoch: the chain is surely running
        chained = sweeprank(
            web, token, "tune", parent, "--sequential", "--group-size", "1", "--trials-per-group", "4", "--no-follow"
        ).stdout
        first = chained.strip().splitlines()[-1]
        assert re.fullmatch(r"sw\d+", first) and "(group 1 of " in chained
        assert sweeprank(web, token, "cancel", first).stdout.strip() == f"sweep {first} is cancelled"
    wait_until(lambda: not live.store.trials.inflight("cpu"), 60, what="the cancelled trials to stop")
    assert live.store.sweeps.next_in_chain(first) is None and first not in live.store.sweeps.open_chain_links()
