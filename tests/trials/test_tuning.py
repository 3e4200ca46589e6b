"""The tune rule (broker/tuning/rule.py) and the specs it makes: held values, samplers, pruners, requests."""

from __future__ import annotations

import pytest

from broker.tuning.rule import NothingToTune, ScoredTrial, best_trial, plan_tune, tuned_order
from trials.records import RankingGroup, Stability
from trials.specs import SpecInvalid, TuneRequest, parse_sweep_spec, parse_tune_request

STABLE = Stability(stable=True, settled=True, stable_since=30, top_k=[0], unchanged_for=50, window=50, sentence="")


def group(importances: list[float], verdicts: list[str] | None) -> RankingGroup:
    names = ["a", "b", "c", "d"]
    return RankingGroup(
        n_trials=80,
        names=names,
        importances=importances,
        raw_weights=importances,
        ci_low=importances,
        ci_high=importances,
        rank_probability=importances,
        ranking=[n for _, n in sorted(zip(importances, names, strict=True), reverse=True)],
        verdicts=verdicts,  # type: ignore[arg-type]
        stability=STABLE,
    )


def test_only_what_matters_is_tuned_most_important_first() -> None:
    ranked = group([0.1, 0.5, 0.3, 0.1], ["matters", "matters", "no_detectable_effect", "matters"])
    # The ranking's own order (b, c, d, a: the tie of a and d as the ranking broke it), less what does not matter.
    assert ranked.ranking == ["b", "c", "d", "a"]
    assert tuned_order(ranked) == ["b", "d", "a"]


@pytest.mark.parametrize(
    ("verdicts", "says"),
    [(None, "no verdicts yet"), (["undetermined", "no_detectable_effect", "undetermined", "undetermined"], "nothing")],
)
def test_nothing_to_tune_says_why(verdicts: list[str] | None, says: str) -> None:
    with pytest.raises(NothingToTune, match=says):
        tuned_order(group([0.25] * 4, verdicts))


def test_the_best_trial_breaks_ties_by_trial_id_and_follows_the_direction() -> None:
    trials = [ScoredTrial(2, {"a": 1}, 0.9), ScoredTrial(1, {"a": 2}, 0.9), ScoredTrial(3, {"a": 3}, 0.1)]
    assert best_trial(trials, "maximize").trial_id == 1
    assert best_trial(trials, "minimize").trial_id == 3
    with pytest.raises(NothingToTune):
        best_trial([], "maximize")


def test_a_plan_holds_everything_it_does_not_tune_at_the_best_trial() -> None:
    ranked = group([0.4, 0.3, 0.2, 0.1], ["matters"] * 4)
    best = ScoredTrial(7, {"a": 1, "b": 2, "c": 3, "d": 4, "held_before": 5}, 0.9)
    plan = plan_tune(ranked, best, top=3, group_size=2)
    assert plan.groups == [["a", "b"], ["c"]] and plan.tuned == ["a", "b", "c"]
    assert plan.held == {"d": 4, "held_before": 5} and plan.best_trial_id == 7
    assert plan_tune(ranked, best).groups == [["a", "b", "c", "d"]]


def spec(**extra: object) -> dict[str, object]:
    return {"owner": "ann", "name": "s", "datasets": ["digits"], "n_trials": 4, **extra}


def test_held_values_leave_the_searched_space_and_join_every_config() -> None:
    parsed = parse_sweep_spec(spec(fixed={"optimizer": "adam", "epochs": 3}))
    assert "optimizer" not in parsed.search_space().names and "epochs" not in parsed.search_space().names
    assert set(parsed.full_space().names) == {*parsed.search_space().names, "optimizer", "epochs"}
    assert parsed.with_held({"learning_rate": 0.01}) == {"learning_rate": 0.01, "optimizer": "adam", "epochs": 3}


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ({"fixed": {"nope": 1}}, "fixed", "unknown hyperparameters ['nope']"),
        ({"fixed": {"epochs": 99}}, "fixed.epochs", "must lie in"),
        ({"pruner": "median"}, "pruner", "needs a model-based sampler"),
        ({"sampler": "annealing"}, "sampler", "Input should be"),
    ],
)
def test_bad_tune_fields_are_refused_with_their_field(extra: dict[str, object], field: str, says: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_sweep_spec(spec(**extra))
    assert any(f == field and says in m for f, m in caught.value.errors), caught.value.errors


def test_holding_every_hyperparameter_is_refused() -> None:
    values = {
        "num_conv_layers": 1,
        "num_filters": 8,
        "kernel_size": 3,
        "activation": "relu",
        "fc_units": 16,
        "dropout_rate": 0.0,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "batch_size": 32,
        "epochs": 1,
    }
    assert set(values) == set(parse_sweep_spec(spec()).full_space().names)
    with pytest.raises(SpecInvalid, match="at least one must vary"):
        parse_sweep_spec(spec(fixed=values))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "trials"),
        ({"sequential": True, "group_size": 2}, "sequential"),
        ({"sequential": True, "group_size": 2, "trials_per_group": 5, "trials": 9}, "trials"),
        ({"trials": 5, "group_size": 2}, "group_size"),
        ({"trials": 5, "sampler": "random"}, "sampler"),
        ({"trials": 5, "top": 0}, "top"),
    ],
)
def test_tune_requests_say_which_field_is_wrong(raw: dict[str, object], field: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_tune_request(raw)
    assert caught.value.errors[0][0] == field, caught.value.errors


def test_a_tune_request_counts_its_trials() -> None:
    assert TuneRequest(trials=40).n_trials == 40
    assert TuneRequest(sequential=True, group_size=2, trials_per_group=15).n_trials == 15
