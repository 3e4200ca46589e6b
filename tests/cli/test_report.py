"""The table a followed sweep ends with (`sweeprank submit`, `bash dev.sh demo`): it says which space it ranked."""

from __future__ import annotations

from typing import Any

from sweeprank.report import final_lines, narrowed_note
from sweeprank.up_cmd import DEMO_SPEC
from tests.webui.conftest import ranking_group, ranking_record
from trials.records import SweepRecord
from trials.specs import SweepSpec


def sweep_record(spec: dict[str, Any]) -> SweepRecord:
    parsed = SweepSpec.model_validate(spec)
    return SweepRecord(
        id="sw1",
        owner=parsed.owner,
        name=parsed.name,
        status="completed",
        priority=parsed.priority,
        device_class="cpu",
        n_trials=parsed.n_trials,
        n_final=parsed.n_trials,
        pending=0,
        counts={"completed": parsed.n_trials},
        spec=parsed,
        space=parsed.search_space().to_dict(),
        stop_reason="all trials done",
        created=1.0,
    )


def test_the_demo_table_says_which_narrowed_space_it_ranked() -> None:
    ranking, _ = ranking_record({"pooled": ranking_group([0.45, 0.30, 0.20, 0.05])})
    lines = final_lines(sweep_record(DEMO_SPEC), ranking)
    note = (
        "This sweep ran cnn-paper narrowed to: num_filters <= 32, fc_units <= 256, batch_size in {64, 128, 256, 512}, "
        "epochs <= 3, 2,000 training images, 1,000 test images -- narrower than the paper's; "
        "compare the ranking with the paper's top 5 with that in mind."
    )
    assert f"\n{note}" in lines
    assert lines.index(f"\n{note}") == lines.index("\nTop 5 next to the paper's:") - 1, "read before the comparison"


def test_the_note_follows_the_spec() -> None:
    spec = {**DEMO_SPEC, "narrow": {"epochs": {"low": 2, "high": 5}, "kernel_size": {"choices": [3]}}}
    del spec["max_test_examples"]
    note = narrowed_note(SweepSpec.model_validate(spec)) or ""
    assert note.startswith("This sweep ran cnn-paper narrowed to: kernel_size in {3}, 2 <= epochs <= 5, 2,000 training")
    # A range narrowed to the preset's own bounds is not narrower.
    whole = {**spec, "narrow": {"epochs": {"high": 20}}, "max_train_examples": None}
    assert narrowed_note(SweepSpec.model_validate(whole)) is None
    assert not any(
        "narrowed" in line
        for line in final_lines(
            sweep_record(whole), ranking_record({"pooled": ranking_group([0.45, 0.30, 0.20, 0.05])})[0]
        )
    )
