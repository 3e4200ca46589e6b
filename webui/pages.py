"""HTML pages: queue monitor, sweeps, one sweep, submit, login. They render shells; data comes from the JSON API."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from trials.errors import SpecError
from trials.space import Value
from trials.specs import SpecInvalid
from webui.auth import check_read, current_user, login, safe_next, users
from webui.auth import logout as end_login
from webui.forms import SubmitForm, pasted_spec, spec_from_fields, spec_problems, tune_sampler_options
from webui.ratelimit import enforce
from webui.services import services
from webui.submission import prepared_datasets, submit_as

pages = Blueprint("pages", __name__)
pages.before_request(check_read)


@pages.get("/")
def monitor() -> str:
    return render_template("monitor.html", page="monitor")


@pages.get("/sweeps")
def sweep_list() -> str:
    return render_template("sweeps.html", page="sweeps")


@pages.get("/sweeps/<sweep_id>")
def sweep_page(sweep_id: str) -> str:
    record = services().store.sweeps.get(sweep_id)
    user = current_user()
    return render_template(
        "sweep.html",
        page="sweeps",
        sweep=record,
        spec_json=json.dumps(record.spec.model_dump(mode="json"), indent=2),
        can_act=bool(user and user.may_act_on(record.owner)),
        held=[(name, _shown(value)) for name, value in record.spec.fixed.items()],
        tune_samplers=tune_sampler_options(),
    )


def _shown(value: Value) -> str:
    """A held value as the trials table prints it: a float to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@pages.route("/submit", methods=["GET", "POST"])
def submit() -> Any:
    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next=url_for("pages.submit")))
    offered = prepared_datasets(services()).offered
    ticked = ["fashion_mnist"] if "fashion_mnist" in offered else offered[:1]
    form = SubmitForm(values={"owner": user.name, "n_trials": 50, "priority": 5, "datasets": ticked}, datasets=offered)
    if request.method == "GET":
        return render_template("submit.html", page="submit", form=form)
    form.values = {
        **request.form.to_dict(),
        "datasets": request.form.getlist("datasets"),
        "choices": {k: request.form.getlist(k) for k in request.form if k.endswith(".choices")},
    }
    try:
        raw, pasted = pasted_spec(request.form, request.files)
    except SpecError as err:  # the user's to fix: shown by the spec box
        form.add_errors([("spec", err.message)], pasted=False)
        return render_template("submit.html", page="submit", form=form), 400
    problems: list[tuple[str, str]] = []
    if not pasted:
        raw, problems = spec_from_fields(request.form, form.space)
    elif not isinstance(raw, dict):
        problems = [("spec", f"must be a mapping of spec fields, got {type(raw).__name__}")]
    if isinstance(raw, dict):
        # All at once: a field whose text did not parse is not reported again as missing.
        unparsed = {where for where, _ in problems}
        problems += [p for p in spec_problems({"owner": user.name, **raw}) if p[0] not in unparsed]
    if not problems:
        try:
            return redirect(url_for("pages.sweep_page", sweep_id=submit_as(user, raw)))
        except SpecInvalid as err:
            problems = err.errors
        except Forbidden as err:
            problems = [("owner", str(err.description))]
    form.add_errors(problems, pasted)
    return render_template("submit.html", page="submit", form=form), 400


@pages.route("/login", methods=["GET", "POST"], endpoint="login")
def login_page() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", page="login", next=target, error=None)
    enforce(f"login:{request.remote_addr}", "login attempts", services().settings.login_attempts_per_minute)
    token = request.form.get("token", "").strip()
    name, password = request.form.get("name", "").strip(), request.form.get("password", "")
    user = users().by_token(token) if token else users().by_password(name, password)
    if user is None:
        return render_template(
            "login.html", page="login", next=target, name=name, error="Unknown name and password, or unknown token."
        ), 401
    login(user)
    return redirect(target)


@pages.post("/logout")
def logout() -> Response:
    end_login()
    return redirect(url_for("pages.monitor"))
