"""The API rejects bad specs with field-level messages, and serves its OpenAPI document."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.integration.conftest import tiny_spec


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"n_trials": 0}, "n_trials", "greater than or equal to 1"),
        ({"datasets": ["imagenet"]}, "datasets", "unknown dataset 'imagenet'"),
        ({"datasets": ["../../etc/passwd"]}, "datasets", "unknown dataset"),
        ({"owner": "a b"}, "owner", "pattern"),
        ({"narrow": {"epochs": {"high": 99}}}, "narrow.epochs", "must lie in [1, 20]"),
        ({"narrow": {"depth": {"high": 3}}}, "narrow.depth", "is not a hyperparameter"),
        ({"space": "resnet"}, "space", "unknown preset 'resnet'"),
        ({"limits": {"soft_time_limit_s": 100, "hard_time_limit_s": 50}}, "limits", "must be < hard_time_limit_s"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_bad_spec_is_rejected_with_the_field(
    redis_api: FlaskClient, change: dict[str, object], field: str, fragment: str
) -> None:
    response = redis_api.post("/api/sweeps", json={**tiny_spec(), **change})
    assert response.status_code == 400
    body = response.get_json()
    assert any(e["field"] == field and fragment in e["message"] for e in body["errors"]), body


def test_non_json_body_is_a_400(redis_api: FlaskClient) -> None:
    response = redis_api.post("/api/sweeps", data="not json", content_type="text/plain")
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


def test_unknown_sweep_is_a_404(redis_api: FlaskClient) -> None:
    for path in ("/api/sweeps/nope", "/api/sweeps/nope/trials", "/api/sweeps/nope/ranking"):
        assert redis_api.get(path).status_code == 404


def test_openapi_document_describes_every_route(redis_api: FlaskClient) -> None:
    doc = redis_api.get("/api/openapi.json").get_json()
    rules = {r.rule for r in redis_api.application.url_map.iter_rules() if r.rule.startswith("/api")}
    documented = {p.replace("{", "<").replace("}", ">") for p in doc["paths"]}
    assert {r.replace("<int:", "<") for r in rules} == documented
    body = doc["paths"]["/api/sweeps"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SweepSpec"}
    assert "n_trials" in doc["components"]["schemas"]["SweepSpec"]["properties"]
