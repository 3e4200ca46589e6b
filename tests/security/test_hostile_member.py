"""A hostile member replays issue 18's findings against the real stack; the pool must shrug each one off.

Each test is one finding, as the audit found it. Records "stored by an older version" are written
straight into the store: that is how a forged tune origin or a damaged record reaches a server that
no longer accepts them. The module ends with the pool healthy, alice's sweep untouched, nothing lost.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broker import keys
from broker.sweep_actions import plan_trials
from tests.helpers import wait_until
from tests.integration.conftest import TINY_NARROW
from tests.security.conftest import PASSWORD, Pool, spec_of, wait_completed
from tests.webui.server import WebServer
from trials.presets import preset
from trials.specs import SweepSpec, SweepStatus

FORGED_REQUEST = {"trials": 1}
TRIALS_CSV = Path(__file__).resolve().parents[2] / "bench" / "data" / "digits_random.csv"


def forged_sweep(pool: Pool, owner: str, tune: dict[str, Any], n_trials: int = 1) -> str:
    """A tune sweep as the old server stored it when a member's spec carried `tune` (dispatched by the analyst)."""
    spec = SweepSpec.model_validate(
        {"owner": owner, "name": "forged", "datasets": ["digits"], "n_trials": n_trials, "narrow": TINY_NARROW,
         "seed": 1, "tune": tune}
    )  # fmt: skip
    return pool.store.sweeps.create(spec, plan_trials(spec))


def assert_analyst_alive(pool: Pool) -> None:
    assert pool.analyst.poll() is None, f"the analyst exited ({pool.analyst.returncode}):\n{pool.live.logs()}"


def ranked(pool: Pool, sweep_id: str, n: int) -> bool:
    ranking = pool.store.rankings.latest(sweep_id)
    return ranking is not None and ranking.n_results == n


def logged_in(pool: Pool, client_name: str = "mallory") -> Any:
    """A browser session of mallory on the real app, with its CSRF token."""
    client = pool.anonymous.application.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    done = client.post("/login", data={"name": client_name, "password": PASSWORD, "csrf_token": csrf})
    assert done.status_code == 302
    client.get("/submit")
    with client.session_transaction() as session:
        return client, session["csrf_token"]


# --- 1, 2: only the server writes tune and chain fields; every later use checks them again ----------------


def test_1_a_submitted_tune_origin_is_refused_by_the_api_and_the_submit_page(pool: Pool) -> None:
    before = pool.sweep_ids()
    tune = {"parent": "sw1", "tuned": ["x"], "held_from_trial": 0, "request": FORGED_REQUEST,
            "groups": [["x"], ["y"]], "chain_root": "sw12"}  # fmt: skip
    response = pool.mallory.post("/api/sweeps", json=spec_of(name="t", n_trials=1, tune=tune))
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == ["tune"]
    client, csrf = logged_in(pool)
    text = "name: t\ndatasets: [digits]\nn_trials: 1\nnarrow: {epochs: {high: 1}}\n" + f"tune: {json.dumps(tune)}\n"
    page = client.post("/submit", data={"spec_text": text, "csrf_token": csrf})
    assert page.status_code == 400 and "never by a submitted spec" in page.get_data(as_text=True)
    assert pool.sweep_ids() == before, "nothing stored"


def test_1_a_forged_chain_stored_earlier_neither_stops_the_analyst_nor_any_restart(pool: Pool) -> None:
    tune = {"parent": "sw999999", "tuned": ["dropout_rate"], "held_from_trial": 0, "request": FORGED_REQUEST,
            "groups": [["x"], ["y"]], "chain_root": None}  # fmt: skip
    forged = forged_sweep(pool, "mallory", tune)
    assert forged in pool.store.sweeps.open_chain_links()
    wait_completed(pool.store, forged)
    wait_until(lambda: forged not in pool.store.sweeps.open_chain_links(), 60, what="the forged link closed")
    assert_analyst_alive(pool)
    assert pool.store.sweeps.next_in_chain(forged) is None, "no next group was built from names the space lacks"

    # A stale entry of the chain-open set (its sweep gone) and a restarted analyst: neither crashes.
    pool.redis.sadd(keys.OPEN_CHAIN_LINKS, "sw999999")
    pool.analyst.terminate()
    pool.analyst.wait(30)
    pool.analyst = pool.live.stack.respawn("analyst")
    wait_until(lambda: not pool.redis.sismember(keys.OPEN_CHAIN_LINKS, "sw999999"), 60, what="the stale link closed")
    after = pool.mallory.post("/api/sweeps", json=spec_of(name="after the restart", n_trials=2)).get_json()["id"]
    wait_until(lambda: ranked(pool, after, 2), 120, what="a sweep ranked after the restart")
    assert_analyst_alive(pool)


def test_2_a_forged_chain_root_cannot_cancel_another_members_sweep(pool: Pool) -> None:
    with pool.live.holding() as holds:
        victim = pool.alice.post("/api/sweeps", json=spec_of(name="alice's running", n_trials=1)).get_json()["id"]
        holds.wait_new(victim, set())
        tune = {"parent": victim, "tuned": ["dropout_rate"], "held_from_trial": 0, "request": FORGED_REQUEST,
                "groups": [["dropout_rate"], ["learning_rate"]], "group": 1, "chain_root": victim}  # fmt: skip
        forged = forged_sweep(pool, "mallory", tune)
        response = pool.mallory.post(f"/api/sweeps/{forged}/cancel")
        assert response.get_json() == {"id": forged, "status": "cancelled"}
        assert pool.store.sweeps.status(victim).value == "running", "alice's sweep is untouched"
        assert pool.alice.post(f"/api/sweeps/{victim}/cancel").status_code == 200  # cleanup, by its owner


# --- 1 (isolation): a sweep whose analysis raises fails alone ---------------------------------------------


def test_1_a_sweep_that_makes_the_analysis_raise_is_marked_failed_and_the_others_are_still_ranked(pool: Pool) -> None:
    with pool.live.holding() as holds:
        broken = pool.mallory.post("/api/sweeps", json=spec_of(name="breaks the analyst", n_trials=1)).get_json()["id"]
        trial_id, attempt, _ = holds.wait_new(broken, set())
        # A record the analyst cannot read its space from (damaged, or written by an older version).
        pool.redis.hset(keys.sweep(broken), "space", json.dumps({"parameters": {"x": {"type": "nonsense"}}}))
        holds.release(broken, trial_id, attempt)
        wait_until(lambda: pool.store.sweeps.status(broken).value == "failed", 60, what="the sweep marked failed")
    record = pool.store.sweeps.get(broken)
    assert record.stop_reason.startswith("the analyst could not process it: SpecError"), record.stop_reason
    assert_analyst_alive(pool)
    other = pool.alice.post("/api/sweeps", json=spec_of(name="still ranked", n_trials=2)).get_json()["id"]
    wait_until(lambda: ranked(pool, other, 2), 120, what="another sweep ranked")
    assert_analyst_alive(pool)


# --- 3: non-finite numbers; a 500 never half-stores; one record never breaks the list ---------------------


def test_3_infinity_and_nan_are_refused_everywhere_and_nothing_is_stored(pool: Pool) -> None:
    before = pool.sweep_ids()
    for constant in ("Infinity", "NaN", "-Infinity"):
        spec = spec_of(name="inf", n_trials=1)
        spec["space"] = {"z": {"type": "categorical", "choices": ["@"]}, "epochs": {"type": "int", "low": 1, "high": 1}}
        body = json.dumps(spec).replace('"@"', constant)
        response = pool.mallory.post("/api/sweeps", data=body, content_type="application/json")
        assert response.status_code == 400 and constant.lstrip("-") in response.get_json()["error"]
    client, csrf = logged_in(pool)
    text = "name: t\ndatasets: [digits]\nn_trials: 1\nspace: {z: {type: categorical, choices: [.inf, 1]}}\n"
    page = client.post("/submit", data={"spec_text": text, "csrf_token": csrf})
    assert page.status_code == 400 and "must be a finite number" in page.get_data(as_text=True)
    assert pool.sweep_ids() == before


def test_3_one_broken_stored_record_leaves_the_lists_working_for_everyone(pool: Pool) -> None:
    spec = SweepSpec.model_validate({"owner": "mallory", **spec_of(name="to be damaged", n_trials=1)})
    broken = pool.store.sweeps.create(spec, plan_trials(spec))
    pool.store.sweeps.set_status(broken, SweepStatus.CANCELLED, "by the test")
    pool.redis.hset(keys.sweep(broken), "spec", '{"owner": "mallory", "space": null}')
    for path in ("/api/sweeps", "/api/summaries"):
        response = pool.alice.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        ids = [s["id"] for s in response.get_json()["sweeps"]]
        assert pool.reference in ids and broken not in ids


def test_3_a_sweep_that_cannot_be_dispatched_fails_alone_and_the_others_still_run(pool: Pool) -> None:
    spec = SweepSpec.model_validate({"owner": "mallory", **spec_of(name="cannot be sent", n_trials=2)})
    with pool.store.trials.dispatch_lock() as held:  # nothing is dispatched until the record is damaged
        assert held
        broken = pool.store.sweeps.create(spec, plan_trials(spec))
        pool.redis.hset(keys.sweep(broken), "spec", '{"owner": "mallory"}')
    wait_until(lambda: pool.store.sweeps.status(broken).value == "failed", 60, what="the sweep marked failed")
    assert pool.redis.hget(keys.sweep(broken), "stop_reason").startswith("cannot be dispatched: ValidationError")
    assert_analyst_alive(pool)
    other = pool.alice.post("/api/sweeps", json=spec_of(name="dispatched", n_trials=2)).get_json()["id"]
    wait_until(lambda: ranked(pool, other, 2), 120, what="another sweep run and ranked")


# --- 4: size and complexity budget -------------------------------------------------------------------------


def test_4_a_yaml_alias_bomb_and_a_huge_grid_are_refused_with_a_short_message(pool: Pool) -> None:
    bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
        f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    client, csrf = logged_in(pool)
    page = client.post("/submit", data={"spec_text": bomb, "csrf_token": csrf})
    assert page.status_code == 400 and "aliases (*name) are not accepted" in page.get_data(as_text=True)
    assert len(page.get_data()) < 50_000, "the error does not echo the expansion"

    grid = spec_of(name="grid", n_trials=2, sampler="grid")
    grid.pop("narrow")
    grid["space"] = {f"p{i}": {"type": "categorical", "choices": list(range(30))} for i in range(8)}
    response = pool.mallory.post("/api/sweeps", json=grid)
    assert response.status_code == 400
    (error,) = response.get_json()["errors"]
    assert error["field"] == "sampler" and "656,100,000,000" in error["message"] and len(error["message"]) <= 300


# --- 5: live-update streams --------------------------------------------------------------------------------


def open_stream(url: str, token: str | None = None) -> tuple[http.client.HTTPConnection, int, str]:
    """GET /events on a real server; (connection, status, body of a refusal). A stream stays open until closed."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    connection.request("GET", "/events", headers={"Authorization": f"Bearer {token}"} if token else {})
    response = connection.getresponse()
    return connection, response.status, "" if response.status == 200 else response.read().decode()


def test_5_streams_are_capped_per_client_and_overall_and_health_stays_answerable(pool: Pool, tmp_path: Path) -> None:
    # 8 threads: streams may hold 6 of them (webui/events.py, reserved_threads), 4 per client.
    env = {"SWEEPRANK_WEB_WORKERS": "1", "SWEEPRANK_WEB_THREADS": "8", "SWEEPRANK_EVENTS_PER_CLIENT": "4"}
    server = WebServer(pool.live.redis_url, tmp_path / "web.log", env)
    server.start()
    opened: list[http.client.HTTPConnection] = []
    try:
        for _ in range(4):
            connection, status, _ = open_stream(server.url)
            opened.append(connection)
            assert status == 200
        connection, status, body = open_stream(server.url)
        assert status == 429 and "already has 4 live-update streams open" in body
        member = pool.store.users.add("streamer")
        for _ in range(2):
            connection, status, _ = open_stream(server.url, member)
            opened.append(connection)
            assert status == 200
        connection, status, body = open_stream(server.url, pool.mallory_token)
        assert status == 429 and "its maximum of 6 live-update streams" in body
        with urllib.request.urlopen(f"{server.url}/api/openapi.json", timeout=30) as answered:
            assert answered.status == 200, "requests still find a thread"
        health = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=30)
        health.request("GET", "/api/health")
        assert health.getresponse().status in (200, 503)
    finally:
        for connection in opened:
            connection.close()
        server.stop()


# --- 12, 13: ids and bodies ---------------------------------------------------------------------------------


def test_12_a_sweep_id_that_names_another_key_is_a_404(pool: Pool) -> None:
    for suffix in (":trials", ":configs", ":results", ":ranking", ":study:digits"):
        for path in (f"/api/sweeps/{pool.reference}{suffix}", f"/api/sweeps/{pool.reference}{suffix}/trials"):
            response = pool.alice.get(path)
            assert response.status_code == 404, (path, response.status_code)


def test_13_strict_types_and_bounded_json_bodies(pool: Pool) -> None:
    before = pool.sweep_ids()
    for bad in ("2", True, 2.0):
        response = pool.mallory.post("/api/sweeps", json=spec_of(name="t", n_trials=1) | {"n_trials": bad})
        assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "n_trials", bad
    deep = pool.mallory.post("/api/sweeps", data="[" * 5000 + "]" * 5000, content_type="application/json")
    assert deep.status_code == 400 and "nested" in deep.get_json()["error"]
    huge = pool.mallory.post("/api/sweeps", data='{"n_trials": ' + "9" * 5001 + "}", content_type="application/json")
    assert huge.status_code == 400 and "5001 digits" in huge.get_json()["error"]
    assert pool.sweep_ids() == before


def test_13_a_space_the_cnn_template_cannot_build_and_an_unserved_device_class_are_refused(pool: Pool) -> None:
    before = pool.sweep_ids()
    space = preset("cnn-paper").to_dict()["parameters"]
    bad = {**space, "activation": {"type": "categorical", "choices": ["relu", "swish"]},
           "num_filters": {"type": "int", "low": 0, "high": 8}}  # fmt: skip
    bad.pop("optimizer")
    spec = spec_of(name="unbuildable", n_trials=1) | {"space": bad}
    spec.pop("narrow")
    errors = pool.mallory.post("/api/sweeps", json=spec).get_json()["errors"]
    assert {e["field"] for e in errors} == {"space.activation", "space.num_filters", "space.optimizer"}, errors
    gpu = pool.mallory.post("/api/sweeps", json=spec_of(name="gpu", n_trials=1, device_class="gpu"))
    assert gpu.status_code == 400
    assert gpu.get_json()["errors"] == [
        {"field": "device_class", "message": "no live trainer serves 'gpu' (live trainers serve ['cpu'])"}
    ]
    assert pool.sweep_ids() == before


# --- 14, 15, 17: escaping, redirects, health ------------------------------------------------------------------


def test_14_a_formula_as_a_hyperparameter_name_is_neutralised_in_the_csv_header(pool: Pool) -> None:
    name = '=HYPERLINK("http://evil.example","x")'
    spec = spec_of(name="formula", n_trials=1)
    spec["space"] = {**preset("cnn-paper").to_dict()["parameters"], name: {"type": "float", "low": 0.0, "high": 1.0}}
    created = pool.mallory.post("/api/sweeps", json=spec)
    assert created.status_code == 201, created.get_json()
    sweep_id = created.get_json()["id"]
    pool.mallory.post(f"/api/sweeps/{sweep_id}/cancel")  # nothing trains: the header is what matters
    header = next(csv.reader(io.StringIO(pool.mallory.get(f"/api/sweeps/{sweep_id}/export").get_data(as_text=True))))
    assert f"'{name}" in header and name not in header


def test_15_login_redirects_only_to_a_relative_path_on_this_host(pool: Pool) -> None:
    for target in (
        "/%09/evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example",
    ):
        client = pool.anonymous.application.test_client()
        client.get("/login")
        with client.session_transaction() as session:
            csrf = session["csrf_token"]
        done = client.post(f"/login?next={target}", data={"name": "mallory", "password": PASSWORD, "csrf_token": csrf})
        assert done.status_code == 302 and done.headers["Location"] == "/", (target, done.headers["Location"])


def test_17_anonymous_health_says_only_ok_or_not_ok(pool: Pool) -> None:
    body = pool.anonymous.get("/api/health").get_json()
    assert set(body) == {"ok", "time"}
    assert "services" in pool.alice.get("/api/health").get_json()


# --- 18: the command line -------------------------------------------------------------------------------------


def test_18_every_cli_error_is_one_line_with_exit_code_2(pool: Pool, tmp_path: Path) -> None:
    (tmp_path / "syntax.yaml").write_text("name: [unclosed\n")
    (tmp_path / "python.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    cases = [
        ["submit", str(tmp_path / "missing.yaml")],
        ["submit", str(tmp_path)],
        ["submit", str(tmp_path / "syntax.yaml")],
        ["submit", str(tmp_path / "python.yaml")],
        ["rank", str(tmp_path / "missing.csv")],
        [
            "rank",
            str(TRIALS_CSV),
            "--space",
            "cnn-paper",
            "--metric",
            "test_accuracy",
            "--json",
            str(tmp_path / "no/x"),
        ],
        ["rank", "--optuna-storage", "mysql://member:pw@127.0.0.1:9/db"],
    ]
    for args in cases:
        done = subprocess.run(
            [sys.executable, "-m", "sweeprank", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sweeprank") and "Traceback" not in done.stderr, args


# --- the end: the pool is healthy, alice's sweep untouched, nothing lost ---------------------------------------


def test_the_pool_is_healthy_alices_sweep_untouched_and_nothing_lost(pool: Pool) -> None:
    assert_analyst_alive(pool)
    assert pool.alice.get("/api/health").status_code == 200
    record = pool.store.sweeps.get(pool.reference)
    assert record == pool.reference_record
    assert pool.store.sweeps.children(pool.reference) == []
    assert pool.store.rankings.latest(pool.reference) == pool.reference_ranking
    results = pool.store.results.in_arrival_order(pool.reference)
    assert sorted(r.trial_id for r in results) == [0, 1, 2, 3]
    # Nothing lost: every sweep that completed has one result per trial, all of them ranked.
    completed = [s for s in pool.alice.get("/api/sweeps").get_json()["sweeps"] if s["status"] == "completed"]
    assert {pool.reference} < {s["id"] for s in completed}, "alice's and the sweeps run after the attacks"
    for sweep in completed:
        assert len(pool.store.results.in_arrival_order(sweep["id"])) == sweep["n_trials"], sweep["id"]
        assert ranked(pool, sweep["id"], sweep["n_trials"]), sweep["id"]
