"""Fuzz the JSON API from its own OpenAPI document: no input may produce a 5xx.

Bodies are built from the schema's property names with arbitrary JSON values,
sometimes over a valid spec so the deeper validation layers are reached too.
Bounded: a fixed number of examples per operation, no deadline per example.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.settings import Settings
from broker.store import Store
from tests.integration.conftest import tiny_spec
from tests.webui.conftest import Members, bearer, seed_sweep
from trials.records import Health
from webui import create_app
from webui.api import HealthBrief

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
path_values = st.one_of(
    st.sampled_from(["sw1", "sw999", "0", "-1", "%2e%2e", "a" * 300]),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#%"), min_size=1, max_size=30),
)
query_values = st.dictionaries(
    st.sampled_from(["offset", "limit", "sort", "order", "format", "n"]),
    st.text(max_size=12) | st.integers(-5, 10**7).map(str),
    max_size=4,
)

# The one documented 5xx: the health report of a pool that is not ok (here: no analyst, no trainer).
HEALTH = "/api/health"
FUZZ_LIMITS = {"submits_per_minute": 10**6, "bad_tokens_per_minute": 10**6, "max_queued_trials_per_member": 300}


@pytest.fixture
def fuzz_app(web_redis_url: str) -> Flask:
    return create_app(Settings(redis_url=web_redis_url, events_max_s=0.2, **FUZZ_LIMITS), {"TESTING": True})


def operations(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    doc = app.test_client().get("/api/openapi.json").get_json()
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def body_strategy(app: Flask, op: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "requestBody" not in op:
        return st.none()
    doc = app.test_client().get("/api/openapi.json").get_json()
    name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = sorted(doc["components"]["schemas"][name]["properties"])
    perturbed = st.dictionaries(st.sampled_from(fields), json_values, max_size=4)
    base = {k: v for k, v in tiny_spec(n_trials=5).items() if k != "owner"}
    return st.one_of(st.just(base), json_values, perturbed, perturbed.map(lambda changes: {**base, **changes}))


def fuzz_operation(
    app: Flask, members: Members, path: str, method: str, op: dict[str, Any], seen: dict[int, int], sweep_id: str
) -> Any:
    """A hypothesis test of one operation that records every status code it sees."""
    client = app.test_client()
    known = st.just(sweep_id)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        params=st.fixed_dictionaries(
            {p["name"]: path_values | known | st.integers(0, 5).map(str) for p in op.get("parameters", [])}
        ),
        query=query_values,
        body=body_strategy(app, op),
        who=st.sampled_from([None, members.ann, members.root, "not-a-token"]),
    )
    def call(params: dict[str, str], query: dict[str, str], body: Any, who: str | None) -> None:
        url = path.format(**{k: v.replace("{", "").replace("}", "") for k, v in params.items()})
        response = client.open(
            url,
            method=method.upper(),
            query_string=query,
            json=body if method == "post" else None,
            headers=bearer(who) if who else {},
        )
        if url == HEALTH and response.status_code == 503:
            # The pool is not ok (no analyst here): a report, no failure; anonymous callers get ok/not ok only.
            (HealthBrief if who is None else Health).model_validate(response.get_json())
            return
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, url, query, body, response.get_data(as_text=True)[:300])

    return call


def test_no_input_makes_the_api_fail(fuzz_app: Flask, members: Members, store: Store) -> None:
    sweep_id = seed_sweep(store, owner="ann", n_trials=8, n_results=5)
    ops = operations(fuzz_app)
    assert len(ops) >= 12, "every API operation is fuzzed"
    seen: dict[int, int] = {}

    for path, method, op in ops:
        fuzz_operation(fuzz_app, members, path, method, op, seen, sweep_id)()
    print(f"\nAPI fuzz: {sum(seen.values())} requests over {len(ops)} operations, status codes {sorted(seen.items())}")
    assert not any(code >= 500 for code in seen)
    assert {200, 201, 400, 401, 404} <= set(seen), "the fuzzer reached success and every kind of refusal"
