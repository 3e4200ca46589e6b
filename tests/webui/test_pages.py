"""Every page renders from stored records; the submit form validates next to its fields; assets are local."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.store import Store
from tests.webui.conftest import Members, csrf_of, seed_sweep

STATIC = Path(__file__).parents[2] / "webui"


def field_errors(html: str) -> dict[str, str]:
    found = re.findall(r'<span class="field-error" data-field="([^"]+)">([^<]*)</span>', html)
    return {field: unescape(message) for field, message in found}


def test_every_page_renders(logged_in: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_results=3)
    pages = {
        "/": "Queue monitor",
        "/sweeps": "Sweeps",
        f"/sweeps/{sweep_id}": "importance-chart",
        "/submit": "Submit a sweep",
        "/login": "Log in",
    }
    for path, marker in pages.items():
        response = logged_in.get(path)
        assert response.status_code == 200 and marker in response.get_data(as_text=True), path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_sweep_page_explains_why_pooled_and_per_dataset_verdicts_differ(
    logged_in: FlaskClient, store: Store
) -> None:
    """Regression: a pooled Holm p of 1.0 next to a dataset's own p of 0.0015 had no explanation on the page."""
    page = unescape(logged_in.get(f"/sweeps/{seed_sweep(store, n_results=3)}").get_data(as_text=True))
    glossary = re.search(r'<dd data-term="pooled">(.*?)</dd>', page, re.S)
    assert glossary is not None
    said = " ".join(glossary.group(1).split())
    assert "pooled p can be 1.0 while its p within that dataset is 0.0015" in said and "Pick the dataset" in said


def test_unknown_sweep_page_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/sweeps/nope")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "no sweep with id" in response.get_data(as_text=True)


def test_actions_only_for_owner_or_admin(client: FlaskClient, store: Store, members: Members) -> None:
    sweep_id = seed_sweep(store, owner="bob")
    assert 'data-action="cancel"' not in client.get(f"/sweeps/{sweep_id}").get_data(as_text=True)
    client.get("/login")
    client.post("/login", data={"token": members.root, "csrf_token": csrf_of(client)})
    assert 'data-action="cancel"' in client.get(f"/sweeps/{sweep_id}").get_data(as_text=True)


def test_submit_needs_login(client: FlaskClient) -> None:
    response = client.get("/submit")
    assert response.status_code == 302 and "/login?next=/submit" in response.headers["Location"]


def test_form_submits_and_goes_to_the_sweep_page(logged_in: FlaskClient, store: Store) -> None:
    form = {
        "csrf_token": csrf_of(logged_in),
        "name": "form sweep",
        "datasets": ["digits"],
        "n_trials": "4",
        "priority": "7",
        "epochs.high": "2",
        "num_conv_layers.high": "2",
        "batch_size.choices": ["64", "128"],
        "stop_when_stable": "on",
    }
    response = logged_in.post("/submit", data=form)
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    sweep_id = response.headers["Location"].rsplit("/", 1)[1]
    record = store.sweeps.get(sweep_id)
    assert record.owner == "ann" and record.n_trials == 4 and record.priority == 7
    assert record.space["parameters"]["epochs"]["high"] == 2
    assert record.space["parameters"]["batch_size"]["choices"] == [64, 128]
    assert record.spec.stop_when_stable is True


def test_bad_form_shows_errors_next_to_the_fields(logged_in: FlaskClient, store: Store) -> None:
    form = {
        "csrf_token": csrf_of(logged_in),
        "name": "",
        "n_trials": "0",
        "epochs.high": "99",
        "learning_rate.low": "fast",
        "dropout_rate.low": "0.6",
        "dropout_rate.high": "0.2",
        "num_conv_layers.low": "0",
    }
    response = logged_in.post("/submit", data=form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    # Parse errors, field errors and bad ranges in one round, each by its own field, in plain words.
    assert field_errors(html) == {
        "narrow.learning_rate": "must be a number, got 'fast'",
        "name": "must not be empty",
        "datasets": "pick at least one",
        "n_trials": "must be at least 1",
        "narrow.dropout_rate": "the low end (0.6) is above the high end (0.2)",
        "narrow.epochs": "must lie in [1, 20], got 99",
        "narrow.num_conv_layers": "must lie in [1, 5], got 0",
    }
    assert not re.search(r"should|Input|String|List", html), "no pydantic wording"
    assert 'value="99"' in html, "typed values are kept"
    assert store.sweeps.ids() == []


def test_pasted_spec_shows_all_its_errors_in_plain_words(logged_in: FlaskClient) -> None:
    text = "name: ''\ndatasets: []\nn_trials: 0\npriority: 12\nnarrow: {epochs: {high: 99}, dropout_rate: {low: 0.9}}\n"
    response = logged_in.post("/submit", data={"csrf_token": csrf_of(logged_in), "spec_text": text})
    assert response.status_code == 400
    spec_errors = re.findall(r'data-field="spec">([^<]*)<', response.get_data(as_text=True))
    assert sorted(map(unescape, spec_errors)) == [
        "datasets: pick at least one",
        "n_trials: must be at least 1",
        "name: must not be empty",
        "narrow.dropout_rate: must lie in [0, 0.8], got 0.9",
        "narrow.epochs: must lie in [1, 20], got 99",
        "priority: must be at most 9",
    ]


@pytest.mark.parametrize(
    ("text", "status", "fragment"),
    [
        ("name: pasted\ndatasets: [digits]\nn_trials: 3\nnarrow: {epochs: {high: 1}}\n", 302, ""),
        ('{"name": "pasted", "datasets": ["digits"], "n_trials": 3}', 302, ""),
        ("name: pasted\ndatasets: [imagenet]\nn_trials: 3\n", 400, "datasets: unknown dataset"),
        ("name: pasted\nowner: bob\ndatasets: [digits]\nn_trials: 3\n", 400, "only as themselves"),
        ("[1, 2", 400, "neither YAML nor JSON"),
        ("- a list\n", 400, "must be a mapping"),
    ],
)
def test_pasted_spec(logged_in: FlaskClient, store: Store, text: str, status: int, fragment: str) -> None:
    response = logged_in.post("/submit", data={"csrf_token": csrf_of(logged_in), "spec_text": text})
    assert response.status_code == status
    if status == 400:
        assert fragment in field_errors(response.get_data(as_text=True)).get("spec", "") + field_errors(
            response.get_data(as_text=True)
        ).get("owner", "")
    else:
        assert store.sweeps.get(response.headers["Location"].rsplit("/", 1)[1]).owner == "ann"


def test_uploaded_spec_file(logged_in: FlaskClient, store: Store) -> None:
    import io

    upload = (io.BytesIO(b"name: uploaded\ndatasets: [digits]\nn_trials: 2\n"), "spec.yaml")
    response = logged_in.post(
        "/submit", data={"csrf_token": csrf_of(logged_in), "spec_file": upload}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert store.sweeps.get(response.headers["Location"].rsplit("/", 1)[1]).name == "uploaded"


def test_assets_are_served_locally_with_no_external_reference(client: FlaskClient) -> None:
    for asset in (
        "css/app.css",
        "js/common.js",
        "js/charts.js",
        "js/theme.js",
        "js/monitor.js",
        "js/sweeps.js",
        "js/sweep.js",
    ):
        assert client.get(f"/static/{asset}").status_code == 200, asset
    external = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", re.I)
    for path in [*STATIC.glob("static/**/*.*"), *STATIC.glob("templates/*.html")]:
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")
        assert not external.search(text), f"{path} refers to another host"


def test_every_page_links_a_favicon_that_is_served(client: FlaskClient) -> None:
    html = client.get("/sweeps").get_data(as_text=True)
    [icon] = re.findall(r'<link rel="icon"[^>]* href="([^"]+)"', html)
    assert client.get(icon).status_code == 200
    # Browsers ask for /favicon.ico on their own, whatever the page links.
    response = client.get("/favicon.ico", follow_redirects=True)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
