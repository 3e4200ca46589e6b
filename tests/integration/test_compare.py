"""The compare action through the real analyst process: members only, off the request path, computed once."""

from __future__ import annotations

from flask.testing import FlaskClient

from broker.settings import Settings
from tests.helpers import wait_until
from tests.integration.conftest import LiveStack, tiny_spec, wait_for_status
from webui import create_app


def test_compare_is_for_members_computed_by_the_analyst_and_then_served_from_its_store(
    api: FlaskClient, live: LiveStack
) -> None:
    created = api.post("/api/sweeps", json=tiny_spec(name="compared", n_trials=12))
    sweep_id = created.get_json()["id"]
    wait_for_status(api, sweep_id, ("completed",))
    wait_until(lambda: (r := live.store.rankings.latest(sweep_id)) and r.n_results == 12, 60, what="12 ranked")

    anonymous = create_app(Settings(redis_url=live.redis_url), {"TESTING": True}).test_client()
    assert anonymous.post(f"/api/sweeps/{sweep_id}/compare").status_code == 401

    computed_before = live.store.health.counters().get("comparisons_computed", 0)
    asked = api.post(f"/api/sweeps/{sweep_id}/compare")
    assert asked.status_code == 202 and asked.get_json()["status"] == "computing"
    comparison = wait_until(
        lambda: api.get(f"/api/sweeps/{sweep_id}/comparison").get_json()["comparison"],
        120,
        what="the analyst to store the comparison",
    )
    assert comparison["n_results"] == 12 and set(comparison["groups"]["pooled"]["methods"]) == {"fanova", "ped-anova"}
    assert live.store.health.counters()["comparisons_computed"] == computed_before + 1

    again = api.post(f"/api/sweeps/{sweep_id}/compare")
    assert again.status_code == 200 and again.get_json()["comparison"] == comparison
    assert live.store.comparisons.requested() == [], "served from the store: nothing asked of the analyst"
    assert live.store.health.counters()["comparisons_computed"] == computed_before + 1
