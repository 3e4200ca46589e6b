"""The JSON API: sweeps, trials, rankings, queue status, actions, export."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import BaseModel

from broker import keys, sweeps
from trials.specs import EpochMetrics, SweepSpec, TrialResult, parse_sweep_spec
from webui.app import services
from webui.export import to_csv, to_parquet, trial_rows
from webui.openapi import ApiRoutes

api = Blueprint("api", __name__)
routes = ApiRoutes(api, "/api")


class SweepCreated(BaseModel):
    id: str
    url: str


class SweepRecord(BaseModel):
    id: str
    owner: str
    name: str
    status: str
    n_trials: int
    n_final: int
    pending: int
    counts: dict[str, int]
    spec: SweepSpec
    space: dict[str, Any]
    stop_reason: str
    created: float


class SweepList(BaseModel):
    sweeps: list[SweepRecord]


class TrialRow(BaseModel):
    trial_id: int
    state: dict[str, Any]
    result: TrialResult | None


class TrialPage(BaseModel):
    total: int
    offset: int
    limit: int
    trials: list[TrialRow]


class MetricsList(BaseModel):
    metrics: list[EpochMetrics]


class RankingBody(BaseModel):
    ranking: dict[str, Any] | None


class RankingHistory(BaseModel):
    history: list[dict[str, Any]]


class QueueStatus(BaseModel):
    workers: list[dict[str, Any]]
    queues: dict[str, int]
    inflight: dict[str, int]
    pending_by_owner: dict[str, int]
    recent_failures: list[dict[str, Any]]
    counters: dict[str, int]


class ActionDone(BaseModel):
    id: str
    status: str


def _sweep_record(sweep_id: str) -> dict[str, Any]:
    record = services().store.sweep(sweep_id)
    return SweepRecord.model_validate(record).model_dump(mode="json")


@routes.route("/openapi.json", "GET", "This document")
def openapi() -> Any:
    return jsonify(routes.document("sweeprank", "0.1.0"))


@routes.route("/sweeps", "POST", "Submit a sweep", body=SweepSpec, response=SweepCreated, status=201)
def create_sweep() -> Any:
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        return jsonify({"error": "the body must be a JSON object (a sweep spec)"}), 400
    spec = parse_sweep_spec(raw)
    svc = services()
    sweep_id = sweeps.submit(svc.store, svc.dispatcher, spec)
    return jsonify({"id": sweep_id, "url": url_for("api.get_sweep", sweep_id=sweep_id)}), 201


@routes.route("/sweeps", "GET", "List sweeps, newest first", response=SweepList)
def list_sweeps() -> Any:
    ids = list(reversed(services().store.sweep_ids()))
    return jsonify({"sweeps": [_sweep_record(s) for s in ids]})


@routes.route("/sweeps/<sweep_id>", "GET", "One sweep", response=SweepRecord)
def get_sweep(sweep_id: str) -> Any:
    return jsonify(_sweep_record(sweep_id))


@routes.route("/sweeps/<sweep_id>/trials", "GET", "Trials of a sweep (offset, limit)", response=TrialPage)
def list_trials(sweep_id: str) -> Any:
    store = services().store
    store.sweep(sweep_id)
    offset = max(request.args.get("offset", 0, type=int), 0)
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    states = store.trial_states(sweep_id)
    page = sorted(states)[offset:offset + limit]
    rows = [{"trial_id": t, "state": states[t],
             "result": (r.model_dump(mode="json") if (r := store.result(sweep_id, t)) else None)} for t in page]
    return jsonify({"total": len(states), "offset": offset, "limit": limit, "trials": rows})


@routes.route("/sweeps/<sweep_id>/trials/<int:trial_id>/metrics", "GET", "Per-epoch metrics of a trial",
              response=MetricsList)
def trial_metrics(sweep_id: str, trial_id: int) -> Any:
    store = services().store
    store.sweep(sweep_id)
    return jsonify({"metrics": [m.model_dump(mode="json") for m in store.epoch_metrics(sweep_id, trial_id)]})


@routes.route("/sweeps/<sweep_id>/ranking", "GET", "Latest ranking record (null before the first result)",
              response=RankingBody)
def latest_ranking(sweep_id: str) -> Any:
    store = services().store
    store.sweep(sweep_id)
    return jsonify({"ranking": store.latest_ranking(sweep_id)})


@routes.route("/sweeps/<sweep_id>/rankings", "GET", "Ranking history (pooled importances per update)",
              response=RankingHistory)
def ranking_history(sweep_id: str) -> Any:
    store = services().store
    store.sweep(sweep_id)
    return jsonify({"history": store.ranking_history(sweep_id)})


def _action(sweep_id: str, action: str) -> Any:
    svc = services()
    if action == "pause":
        sweeps.pause(svc.store, sweep_id)
    elif action == "resume":
        sweeps.resume(svc.store, svc.dispatcher, sweep_id)
    else:
        sweeps.cancel(svc.store, svc.dispatcher, sweep_id, by=request.headers.get("X-Sweeprank-User", "api"))
    return jsonify({"id": sweep_id, "status": svc.store.status(sweep_id).value})


def _register_action(action: str) -> None:
    def view(sweep_id: str) -> Any:
        return _action(sweep_id, action)

    routes.route(f"/sweeps/<sweep_id>/{action}", "POST", f"{action.capitalize()} a sweep", response=ActionDone,
                 endpoint=f"{action}_sweep")(view)


for _action_name in ("pause", "resume", "cancel"):
    _register_action(_action_name)


@routes.route("/sweeps/<sweep_id>/export", "GET", "Export trials: ?format=csv|json|parquet", produces="text/csv")
def export(sweep_id: str) -> Any:
    fmt = request.args.get("format", "csv")
    columns, rows = trial_rows(services().store, sweep_id)
    headers = {"Content-Disposition": f"attachment; filename={sweep_id}-trials.{fmt}"}
    if fmt == "csv":
        return Response(to_csv(columns, rows), mimetype="text/csv", headers=headers)
    if fmt == "json":
        return Response(json.dumps({"columns": columns, "rows": rows}), mimetype="application/json", headers=headers)
    if fmt == "parquet":
        try:
            return Response(to_parquet(columns, rows), mimetype="application/vnd.apache.parquet", headers=headers)
        except ImportError:
            return jsonify({"error": "parquet export needs pyarrow installed on the web server"}), 400
    return jsonify({"error": f"format must be csv, json or parquet, got {fmt!r}",
                    "errors": [{"field": "format", "message": "must be csv, json or parquet"}]}), 400


@routes.route("/queue", "GET", "Workers, queue depths, in-flight trials, recent failures", response=QueueStatus)
def queue_status() -> Any:
    svc = services()
    store = svc.store
    workers = list(store.live_workers(svc.settings.worker_ttl_s))
    for worker in workers:
        worker["age_s"] = round(time.time() - worker["heartbeat"], 1)
    pending_by_owner: dict[str, int] = {}
    for sweep_id in store.active_sweep_ids():
        owner = str(store.r.hget(keys.sweep(sweep_id), "owner"))
        pending_by_owner[owner] = pending_by_owner.get(owner, 0) + int(store.r.llen(keys.pending(sweep_id)))
    return jsonify({
        "workers": workers,
        "queues": {keys.queue_name(dc): int(store.r.llen(keys.queue_name(dc))) for dc in ("cpu", "gpu")},
        "inflight": {dc: len(store.inflight(dc)) for dc in ("cpu", "gpu")},
        "pending_by_owner": pending_by_owner,
        "recent_failures": store.recent_failures(),
        "counters": store.counters(),
    })
