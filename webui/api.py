"""The JSON API: sweeps, trials, rankings, queue status, actions, export."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import BaseModel, ValidationError

from broker import sweep_actions
from broker.connection import BrokerError
from broker.store import Store
from broker.tuning import chain
from trials.errors import SweeprankError
from trials.json_types import JSONObject
from trials.records import (
    Comparison,
    ComparisonState,
    Health,
    QueueStatus,
    RankingHistoryEntry,
    RankingRecord,
    SweepRecord,
    SweepSummary,
)
from trials.specs import EpochMetrics, SweepSpec, TuneRequest
from trials.untrusted import load_json
from webui.auth import check_read, current_user, login_required, require_owner
from webui.changes import Changes, PageRequest, changes, page_update
from webui.compare_view import request_comparison
from webui.export import (
    EFFECT_COLUMNS,
    RANKING_COLUMNS,
    Row,
    csv_chunks,
    effect_rows,
    export_rows,
    json_chunks,
    parquet_chunks,
    ranking_rows,
    to_csv,
    trial_columns,
)
from webui.health import analyst_health, health_report
from webui.monitor import queue_view, without_hosts
from webui.openapi import ApiRoutes
from webui.services import services
from webui.submission import submit_as, tune_as
from webui.summary import sweep_summary
from webui.trajectory_cache import ServedEntries
from webui.trial_page import TrialRow, page_ids, trial_rows

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
api.before_request(check_read)
routes = ApiRoutes(api, "/api")


class SweepCreated(BaseModel):
    id: str
    url: str


class SweepList(BaseModel):
    sweeps: list[SweepRecord]


class TrialPage(BaseModel):
    total: int
    offset: int
    limit: int
    trials: list[TrialRow]


class MetricsList(BaseModel):
    metrics: list[EpochMetrics]


class RankingBody(BaseModel):
    ranking: RankingRecord | None


class RankingHistory(BaseModel):
    history: list[RankingHistoryEntry]
    last: int  # publication number of the newest entry: `?since=last` answers what was published after it


_SERVED_ENTRIES = ServedEntries()


class ComparisonBody(BaseModel):
    comparison: Comparison | None


class SummaryList(BaseModel):
    sweeps: list[SweepSummary]


class HealthBrief(BaseModel):
    """GET /api/health for an anonymous caller: ok or not, nothing about what runs where."""

    ok: bool
    time: float


class ActionDone(BaseModel):
    id: str
    status: str


def _json_object(what: str) -> JSONObject:
    """The request's JSON body, bounded (trials/untrusted.py): Infinity, NaN, huge integers, deep nesting refused."""
    raw = load_json(request.get_data(cache=True)) if request.is_json else None
    if not isinstance(raw, dict):
        raise SweeprankError(f"the body must be a JSON object ({what})")
    return raw


def _body(model: BaseModel) -> Response:
    """A response model as JSON (Flask's own encoder, as for every other body)."""
    return jsonify(model.model_dump(mode="json"))


@routes.route("/openapi.json", "GET", "This document")
def openapi() -> Any:
    return jsonify(routes.document("sweeprank", "0.1.0"))


@routes.route("/sweeps", "POST", "Submit a sweep", body=SweepSpec, response=SweepCreated, status=201)
@login_required
def create_sweep() -> Any:
    raw = _json_object("a sweep spec")
    user = current_user()
    assert user is not None  # login_required
    sweep_id = submit_as(user, raw)
    return jsonify({"id": sweep_id, "url": url_for("api.get_sweep", sweep_id=sweep_id)}), 201


@routes.route(
    "/sweeps/<sweep_id>/tune",
    "POST",
    "Tune what matters: a follow-up sweep of the hyperparameters whose verdict is `matters`, the rest held "
    "at the best trial's values (sequential: one sweep per group, in turn)",
    body=TuneRequest,
    response=SweepCreated,
    status=201,
)
@login_required
def tune_sweep(sweep_id: str) -> Any:
    raw = _json_object("a tune request")
    user = current_user()
    assert user is not None  # login_required
    new_id = tune_as(user, sweep_id, raw)
    return jsonify({"id": new_id, "url": url_for("api.get_sweep", sweep_id=new_id)}), 201


def _loadable(store: Store) -> Iterator[SweepRecord]:
    """Every sweep that loads, newest first; one whose stored record is broken is logged and left out.

    One damaged record (written by an older version, or by hand) must not take the list away from everyone.
    """
    for sweep_id in reversed(store.sweeps.ids()):
        try:
            yield store.sweeps.get(sweep_id)
        except (ValidationError, ValueError, KeyError) as err:
            log.warning("sweep %s is left out of the list: its stored record does not load (%s)", sweep_id, err)


@routes.route("/sweeps", "GET", "List sweeps, newest first", response=SweepList)
def list_sweeps() -> Any:
    return _body(SweepList(sweeps=list(_loadable(services().store))))


@routes.route(
    "/summaries",
    "GET",
    "Every sweep with progress, ETA, best so far, top 3, stability; newest first",
    response=SummaryList,
)
def list_summaries() -> Any:
    svc = services()
    store = svc.store
    analyst = analyst_health(store, svc.settings, time.time())
    return _body(SummaryList(sweeps=[sweep_summary(store, record, analyst) for record in _loadable(store)]))


@routes.route(
    "/sweeps/<sweep_id>/summary",
    "GET",
    "Progress, ETA, best so far, top 3, stability, a one-line reading, and whether the ranking is paused",
    response=SweepSummary,
)
def get_summary(sweep_id: str) -> Any:
    svc = services()
    record = svc.store.sweeps.get(sweep_id)
    analyst = analyst_health(svc.store, svc.settings, time.time())
    return _body(sweep_summary(svc.store, record, analyst))


@routes.route(
    "/sweeps/<sweep_id>/compare",
    "POST",
    "Rank the ranked trials with fANOVA and PED-ANOVA too (Kendall tau against N-RReliefF): 200 with the "
    "comparison of the current ranking when stored, else 202 `computing` (the analyst computes it; poll "
    "GET .../comparison)",
    response=ComparisonState,
)
@login_required
def compare(sweep_id: str) -> Any:
    state = request_comparison(services().store, sweep_id)
    return _body(state), 200 if state.status == "done" else 202


@routes.route(
    "/sweeps/<sweep_id>/comparison",
    "GET",
    "The latest stored comparison with fANOVA and PED-ANOVA (null before the first request is computed)",
    response=ComparisonBody,
)
def latest_comparison(sweep_id: str) -> Any:
    store = services().store
    store.sweeps.get(sweep_id)
    return _body(ComparisonBody(comparison=store.comparisons.latest(sweep_id)))


@routes.route("/sweeps/<sweep_id>", "GET", "One sweep", response=SweepRecord)
def get_sweep(sweep_id: str) -> Any:
    return _body(services().store.sweeps.get(sweep_id))


@routes.route(
    "/sweeps/<sweep_id>/trials",
    "GET",
    "Trials of a sweep (offset, limit, sort, order=asc|desc). Sorted by a column: finished trials by its value "
    "(those without one last), then unfinished trials by id",
    response=TrialPage,
)
def list_trials(sweep_id: str) -> Any:
    store = services().store
    record = store.sweeps.get(sweep_id)
    offset, limit, sort, descending = _page_args()
    rows = trial_rows(store, sweep_id, page_ids(store, record, offset, limit, sort, descending))
    return _body(TrialPage(total=record.n_trials, offset=offset, limit=limit, trials=rows))


def _page_args() -> tuple[int, int, str, bool]:
    """offset, limit, sort, descending of a trials-table request."""
    offset = max(request.args.get("offset", 0, type=int), 0)
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    return offset, limit, request.args.get("sort", "trial_id"), request.args.get("order", "asc") == "desc"


@routes.route(
    "/sweeps/<sweep_id>/trials/<int:trial_id>/metrics", "GET", "Per-epoch metrics of a trial", response=MetricsList
)
def trial_metrics(sweep_id: str, trial_id: int) -> Any:
    store = services().store
    store.sweeps.get(sweep_id)
    return jsonify({"metrics": [m.model_dump(mode="json") for m in store.results.epoch_metrics(sweep_id, trial_id)]})


@routes.route(
    "/sweeps/<sweep_id>/ranking", "GET", "Latest ranking record (null before the first result)", response=RankingBody
)
def latest_ranking(sweep_id: str) -> Any:
    store = services().store
    store.sweeps.get(sweep_id)
    return _body(RankingBody(ranking=store.rankings.latest(sweep_id)))


@routes.route(
    "/sweeps/<sweep_id>/rankings",
    "GET",
    "Ranking history (pooled importances per update): every one of the last 500, then thinned as it ages, so "
    "bounded at any sweep size; `since=N` answers only the entries published after publication N",
    response=RankingHistory,
)
def ranking_history(sweep_id: str) -> Any:
    store = services().store
    store.sweeps.get(sweep_id)
    since = max(request.args.get("since", 0, type=int), 0)
    entries = store.rankings.history_since_json(sweep_id, since)
    last = entries[-1][0] if entries else since
    body = b'{"history": ' + _SERVED_ENTRIES.json_of([raw for _, raw in entries]) + f', "last": {last}}}'.encode()
    return Response(body, mimetype="application/json")


@routes.route(
    "/sweeps/<sweep_id>/changes",
    "GET",
    "What changed on the sweep page since its last fetch: the summary, the ranking and trajectory entries if newer "
    "than `ranking_seq`, the table page's ids and the rows that changed (arrived after `n_final`, running, or not "
    "in `have`, comma-separated ids); same offset, limit, sort, order as .../trials",
    response=Changes,
)
def page_changes(sweep_id: str) -> Any:
    store = services().store
    record = store.sweeps.get(sweep_id)
    offset, limit, sort, descending = _page_args()
    have = [int(t) for t in request.args.get("have", "").split(",")[:limit] if t.strip().isdigit()]
    asked = PageRequest(
        n_final=max(request.args.get("n_final", 0, type=int), 0),
        ranking_seq=max(request.args.get("ranking_seq", 0, type=int), 0),
        offset=offset,
        limit=limit,
        sort=sort,
        descending=descending,
        have=have,
    )
    # Not through the model again: the effects' floats are at display precision (webui/changes.py).
    return jsonify(page_update(changes(store, record, asked)))


@routes.route(
    "/sweeps/<sweep_id>/ranking.csv",
    "GET",
    "Latest ranking as CSV: one row per group and hyperparameter, with CI, raw W, p-values, verdict",
    produces="text/csv",
)
def ranking_csv(sweep_id: str) -> Any:
    return _ranking_download(sweep_id, "ranking", RANKING_COLUMNS, ranking_rows)


def _ranking_download(
    sweep_id: str, what: str, columns: list[str], rows_of: Callable[[RankingRecord | None], list[Row]]
) -> Response:
    store = services().store
    store.sweeps.get(sweep_id)
    # Before the first ranking the file has its header only, so a download never fails.
    rows = rows_of(store.rankings.latest(sweep_id))
    headers = {"Content-Disposition": f"attachment; filename={sweep_id}-{what}.csv"}
    return Response(to_csv(columns, rows), mimetype="text/csv", headers=headers)


@routes.route(
    "/sweeps/<sweep_id>/effects.csv",
    "GET",
    "Effects of the latest ranking as CSV: one row per dataset, hyperparameter and level, mean metric with its "
    "95% CI, shares, verdict, delta and the largest difference between levels",
    produces="text/csv",
)
def effects_csv(sweep_id: str) -> Any:
    return _ranking_download(sweep_id, "effects", EFFECT_COLUMNS, effect_rows)


def _action(sweep_id: str, action: str) -> Any:
    svc = services()
    user = require_owner(svc.store.sweeps.get(sweep_id).owner)
    if action == "pause":
        sweep_actions.pause(svc.store, sweep_id)
    elif action == "resume":
        sweep_actions.resume(svc.store, svc.dispatcher, sweep_id)
    else:
        # In a sequential-tuning chain, the chain's running sweep: the chain is cancelled as a whole.
        sweep_id = [sweep_id, *chain.cancel_chain(svc.store, svc.dispatcher, sweep_id, by=user.name)][-1]
    return jsonify({"id": sweep_id, "status": svc.store.sweeps.status(sweep_id).value})


def _register_action(action: str) -> None:
    def view(sweep_id: str) -> Any:
        return _action(sweep_id, action)

    routes.route(
        f"/sweeps/<sweep_id>/{action}",
        "POST",
        f"{action.capitalize()} a sweep",
        response=ActionDone,
        endpoint=f"{action}_sweep",
    )(view)


for _action_name in ("pause", "resume", "cancel"):
    _register_action(_action_name)


@routes.route("/sweeps/<sweep_id>/export", "GET", "Export trials: ?format=csv|json|parquet", produces="text/csv")
def export(sweep_id: str) -> Any:
    fmt = request.args.get("format", "csv")
    store = services().store
    record = store.sweeps.get(sweep_id)
    columns = trial_columns(record)
    headers = {"Content-Disposition": f"attachment; filename={sweep_id}-trials.{fmt}"}
    # Streamed: the response is written a chunk of trials at a time, so memory stays flat at any size.
    if fmt == "csv":
        return Response(csv_chunks(columns, export_rows(store, record)), mimetype="text/csv", headers=headers)
    if fmt == "json":
        return Response(json_chunks(columns, export_rows(store, record)), mimetype="application/json", headers=headers)
    if fmt == "parquet":
        try:
            body = parquet_chunks(record, columns, export_rows(store, record))
        except ImportError:
            return jsonify({"error": "parquet export needs pyarrow installed on the web server"}), 400
        return Response(body, mimetype="application/vnd.apache.parquet", headers=headers)
    return jsonify(
        {
            "error": f"format must be csv, json or parquet, got {fmt!r}",
            "errors": [{"field": "format", "message": "must be csv, json or parquet"}],
        }
    ), 400


@routes.route(
    "/queue",
    "GET",
    "Workers with their current trials, queue depths, throughput, recent failures. "
    "Anonymous callers see the trainers numbered, without host names nor pids",
    response=QueueStatus,
)
def queue_status() -> Any:
    svc = services()
    view = queue_view(svc.store, svc.settings)
    return _body(view if current_user() is not None else without_hosts(view))


@routes.route(
    "/health",
    "GET",
    "Redis, the analyst (heartbeat age, lag), this web process and the trainers; HTTP 503 when not ok. "
    "Anonymous callers get only `ok` and `time`: pids, hosts, versions and worker names need a member",
    response=Health,
)
def health() -> Any:
    svc = services()
    report = health_report(svc.settings, svc.server_pid)
    status = 200 if report.ok else 503
    try:
        member = current_user()
    except BrokerError:
        member = None  # Redis cannot say who asks: the details stay private
    if member is None:
        return _body(HealthBrief(ok=report.ok, time=report.time)), status
    return _body(report), status
