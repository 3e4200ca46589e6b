"""What changed on a sweep page since its last fetch, in one small response.

The page says what it has (results seen, the trajectory's last publication, the table page and the ids it shows);
the answer holds the summary, the ranking and trajectory entries only when newer, and only the table rows that
changed: on the page and arrived since, running (their epoch moves), or not shown yet (the page moved).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from broker.store import Store
from trials.json_types import JSONObject, JSONValue
from trials.records import RankingHistoryEntry, RankingRecord, SweepRecord, SweepSummary
from webui.health import analyst_health
from webui.services import services
from webui.summary import sweep_summary
from webui.trial_page import TrialRow, page_ids, trial_rows

# More results than this since the page's last fetch: the page's rows are all sent again.
MAX_ARRIVED = 200


class PageRequest(BaseModel):
    n_final: int  # results the page has seen
    ranking_seq: int  # the trajectory's last publication the page has
    offset: int
    limit: int
    sort: str
    descending: bool
    have: list[int]  # trial ids the page shows


class Changes(BaseModel):
    summary: SweepSummary
    ranking: RankingRecord | None  # the latest ranking, when newer than the page's
    history: list[RankingHistoryEntry]  # trajectory entries published after the page's last
    ranking_seq: int
    total: int
    page: list[int]  # the ids the page shows now, in order
    rows: list[TrialRow]  # the rows among them that changed


def changes(store: Store, record: SweepRecord, asked: PageRequest) -> Changes:
    svc = services()
    summary = sweep_summary(store, record, analyst_health(store, svc.settings, time.time()))
    entries = store.rankings.history_since(record.id, asked.ranking_seq)
    seq = entries[-1][0] if entries else asked.ranking_seq
    ids = page_ids(store, record, asked.offset, asked.limit, asked.sort, asked.descending)
    arrived = store.results.arrived_since(record.id, asked.n_final, MAX_ARRIVED)
    if arrived is None:
        changed = ids
    else:
        moving = set(arrived) | set(store.trials.running_ids(record.id))
        shown = set(asked.have)
        changed = [t for t in ids if t in moving or t not in shown]
    return Changes(
        summary=summary,
        ranking=store.rankings.latest(record.id) if entries else None,
        history=[entry for _, entry in entries],
        ranking_seq=seq,
        total=record.n_trials,
        page=ids,
        rows=trial_rows(store, record.id, changed),
    )


# Significant digits of the effects and interactions in a page's update: the page draws three or four, and
# 17-digit floats made the ranking 9 of a 10 KB update at 100k trials. The stored record, GET .../ranking and the
# CSV downloads keep every digit.
DISPLAY_DIGITS = 6


def for_display(value: JSONValue) -> JSONValue:
    """`value` with every float rounded to DISPLAY_DIGITS significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{DISPLAY_DIGITS}g}")
    if isinstance(value, Mapping):
        return {key: for_display(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [for_display(item) for item in value]
    return value


def page_update(found: Changes) -> JSONObject:
    """The update as the page receives it: the ranking's effects and interactions at display precision."""
    body: JSONObject = found.model_dump(mode="json")
    ranking = body["ranking"]
    groups = ranking.get("groups") if isinstance(ranking, dict) else None
    for group in groups.values() if isinstance(groups, dict) else []:
        if not isinstance(group, dict):
            continue
        group["interactions"] = for_display(group.get("interactions"))
        for row in group.get("rows") or []:
            if isinstance(row, dict):
                row["effect"] = for_display(row.get("effect"))
    return body
