"""Following a sweep and printing its ranking (`sweeprank submit`, `sweeprank up --demo`), and the pool's health."""

from __future__ import annotations

import sys
import time
from typing import Any

from offline.rendering import method_words, ranking_table
from sweeprank.client import ApiError, Client
from trials.presets import preset
from trials.records import Health, RankingGroup, RankingRecord, SweepRecord, SweepSummary, TrainerHealth
from trials.space import ChoiceParam, NumericParam
from trials.specs import SweepSpec, SweepStatus


def paper_comparison(group: RankingGroup) -> list[str]:
    from trials.presets import PAPER_TOP5

    ours = group.ranking[:5]
    lines = [f"  {'#':>2}  {'this sweep':<16}  {'paper (arXiv 2410.08920)':<24}"]
    for position, (mine, (theirs, value)) in enumerate(zip(ours, PAPER_TOP5, strict=False), start=1):
        lines.append(f"  {position:>2}  {mine:<16}  {theirs}{f' ({value:.3f})' if value else ''}")
    return lines


def sweep_of(client: Client, sweep_id: str) -> SweepRecord:
    return SweepRecord.model_validate(client.get(f"/api/sweeps/{sweep_id}"))


def ranking_of(client: Client, sweep_id: str) -> RankingRecord | None:
    ranking = client.get(f"/api/sweeps/{sweep_id}/ranking")["ranking"]
    return None if ranking is None else RankingRecord.model_validate(ranking)


def progress_line(sweep: SweepRecord, ranking: RankingRecord | None, started: float) -> str:
    done, total = sweep.n_final, sweep.n_trials
    width = 30
    filled = int(width * done / max(total, 1))
    elapsed = time.time() - started
    eta = f"ETA {elapsed / done * (total - done):.0f}s" if 0 < done < total else ""
    top = ""
    if ranking:
        top = "top: " + ", ".join(ranking.pooled.ranking[:5])
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {sweep.status} {eta} {top}"


def follow(client: Client, sweep_id: str, poll_s: float = 1.0) -> SweepRecord:
    """Show a live progress bar and the current top-5 until the sweep ends."""
    started = time.time()
    interactive = sys.stdout.isatty()
    last: tuple[int, str] | None = None
    while True:
        sweep = sweep_of(client, sweep_id)
        line = progress_line(sweep, ranking_of(client, sweep_id), started)
        if interactive:
            print("\r" + line[:160].ljust(160), end="", flush=True)
        elif (sweep.n_final, sweep.status) != last:
            # A log file gets a line per finished trial, not one per poll.
            print(line, flush=True)
        last = (sweep.n_final, sweep.status)
        if sweep.status.final:
            if interactive:
                print()
            _wait_for_last_ranking(client, sweep_id, sweep)
            return sweep
        time.sleep(poll_s)


def _wait_for_last_ranking(client: Client, sweep_id: str, sweep: SweepRecord, timeout_s: float = 30.0) -> None:
    """A sweep is completed when its last result is stored; the analyst ranks it a moment later."""
    if sweep.status != SweepStatus.COMPLETED:
        return  # cancelled or stopped: trials that never ran have no result to wait for
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ranking = ranking_of(client, sweep_id)
        if ranking is not None and ranking.n_results >= sweep.n_final:
            return
        time.sleep(0.2)


def _narrowed(param: NumericParam | ChoiceParam, declared: NumericParam | ChoiceParam) -> str | None:
    """How one hyperparameter's range differs from the preset's declaration, or None where it does not."""
    if isinstance(param, ChoiceParam):
        shown = ", ".join(str(c) for c in param.choices)
        return None if param == declared else f"{param.name} in {{{shown}}}"
    assert isinstance(declared, NumericParam)
    low, high = param.low != declared.low, param.high != declared.high
    if low and high:
        return f"{param.low:g} <= {param.name} <= {param.high:g}"
    if low or high:
        return f"{param.name} {'>=' if low else '<='} {param.low if low else param.high:g}"
    return None


def narrowed_note(spec: SweepSpec) -> str | None:
    """What a sweep of a preset left out of it (ranges, training and test images), from its spec; None if nothing.

    The paper's top 5 was measured on the whole space with full datasets: a ranking of a narrower space (the demo's)
    is not the same question, and the comparison says so.
    """
    if not isinstance(spec.space, str):
        return None
    declared = {p.name: p for p in preset(spec.space).params}
    parts = [part for p in spec.search_space().params if (part := _narrowed(p, declared[p.name])) is not None]
    if spec.max_train_examples is not None:
        parts.append(f"{spec.max_train_examples:,} training images")
    if spec.max_test_examples is not None:
        parts.append(f"{spec.max_test_examples:,} test images")
    if not parts:
        return None
    return (
        f"This sweep ran {spec.space} narrowed to: {', '.join(parts)} -- narrower than the paper's; "
        "compare the ranking with the paper's top 5 with that in mind."
    )


def final_lines(sweep: SweepRecord, ranking: RankingRecord | None) -> list[str]:
    """The table a followed sweep ends with: its outcome, the pooled ranking, and its top 5 next to the paper's."""
    lines = [f"\nSweep {sweep.id} {sweep.status} ({sweep.stop_reason}); results: {sweep.counts}"]
    if not ranking or sweep.status == SweepStatus.FAILED:
        return [*lines, "No ranking: no trial completed."]
    pooled = ranking.pooled
    lines.append(f"Importance over {pooled.n_trials} completed trials, {method_words(ranking.parameters.config)}")
    lines += ranking_table("pooled", pooled)
    if note := narrowed_note(sweep.spec):
        lines.append(f"\n{note}")
    lines.append("\nTop 5 next to the paper's:")
    return lines + paper_comparison(pooled)


def print_final(client: Client, sweep_id: str, sweep: SweepRecord) -> None:
    print("\n".join(final_lines(sweep, ranking_of(client, sweep_id))))


ANONYMOUS_HEALTH = "the details need a member: pass --token or set SWEEPRANK_TOKEN"


def health_of(client: Client) -> Health | bool:
    """GET /api/health; a pool that is not ok answers 503 with the same report. Anonymous: only ok or not."""
    try:
        raw = client.get("/api/health")
    except ApiError as err:
        if err.status != 503 or "ok" not in err.body:
            raise
        raw = err.body
    if "services" not in raw:  # an anonymous caller is told only ok or not ok
        return bool(raw["ok"])
    return Health.model_validate(raw)


def _hung(trainer: TrainerHealth) -> str:
    silent = ", ".join(f"{pid} silent {seconds:.0f} s" for pid, seconds in sorted(trainer.hung.items()))
    return f"; hung child(ren): {silent}" if silent else ""


def _ago(age_s: float | None) -> str:
    return "-" if age_s is None else f"{age_s:.0f}s ago"


def health_lines(health: Health | bool) -> list[str]:
    """One line per service (ok or DOWN, pid, host, last beat, details), then the verdict."""
    if isinstance(health, bool):
        return [f"health: {'ok' if health else 'NOT OK'} ({ANONYMOUS_HEALTH})"]
    services = health.services
    redis, analyst = services.redis, services.analyst
    rows: list[tuple[str, bool, int | None, str | None, str, str]] = [
        (
            "redis",
            redis.ok,
            redis.pid,
            redis.host,
            "-",
            f"Redis {redis.version}, up {redis.uptime_s}s, AOF {'on' if redis.aof else 'off'}"
            if redis.ok
            else f"{redis.error}",
        ),
        (
            "analyst",
            analyst.ok,
            analyst.pid,
            analyst.host,
            _ago(analyst.last_beat_s) if analyst.last_beat is not None else "never",
            f"lag {analyst.lag if analyst.lag is not None else '?'}, {analyst.processed or 0} processed",
        ),
        ("web", services.web.ok, services.web.pid, services.web.host, "-", ""),
    ]
    rows += [
        (
            f"trainer {t.name}",
            t.ok,
            t.pid,
            t.host,
            _ago(t.last_beat_s),
            f"{t.device}, {t.busy}/{t.slots} busy{_hung(t)}",
        )
        for t in services.trainers
    ]
    if not services.trainers:
        rows.append(("trainers", False, None, None, "-", "no trainer is beating"))
    lines = [
        f"  {name:<20} {'ok' if ok else 'DOWN':<4}  pid {pid if pid is not None else '-':<8} {host or '-':<16} "
        f"beat {beat:<9} {detail}".rstrip()
        for name, ok, pid, host, beat, detail in rows
    ]
    verdict = "ok" if health.ok else "NOT OK (needs Redis, a beating analyst and at least one trainer)"
    return [f"health: {verdict}", *lines]


def _fmt_config(config: dict[str, Any], first: list[str]) -> str:
    names = [*first, *(n for n in config if n not in first)]
    return ", ".join(f"{n}={config[n]:.4g}" if isinstance(config[n], float) else f"{n}={config[n]}" for n in names)


def best_lines(summary: SweepSummary) -> list[str]:
    """Best so far against trials and trainer-seconds; for a chain, across its sweeps too."""
    progress = summary.progress
    if progress is None or progress.best is None:
        return ["best so far: no completed trial yet"]
    best = progress.best
    lines = [
        f"best {best.metric} {best.value:.4f}: trial {best.trial_id} ({best.dataset}), "
        f"after {progress.n} trials and {progress.trainer_s:,.0f} trainer-seconds",
        "  improved at (trials, trainer-s, value): "
        + "  ".join(f"({p.n}, {p.trainer_s:,.0f}, {p.value:.4f})" for p in progress.points[-6:]),
        f"  config: {_fmt_config(best.config, summary.tuned or summary.top)}",
    ]
    chain = summary.lineage.chain_progress if summary.lineage else None
    if chain is not None and chain.best is not None:
        lines.append(
            f"chain {' -> '.join(summary.lineage.chain if summary.lineage else [])}: best {chain.best.value:.4f} "
            f"(sweep {chain.best.sweep_id}, trial {chain.best.trial_id}) over {chain.n} trials, "
            f"{chain.trainer_s:,.0f} trainer-seconds"
        )
    return lines


def summary_of(client: Client, sweep_id: str) -> SweepSummary:
    return SweepSummary.model_validate(client.get(f"/api/sweeps/{sweep_id}/summary"))
