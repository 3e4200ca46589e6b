"""The sampler registry (trials/samplers.py) is where every other list of samplers comes from."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import jinja2
import pytest
from optuna.samplers import CmaEsSampler, GPSampler, TPESampler

from sweeprank.cli import build_parser
from trials.presets import preset
from trials.samplers import MODEL_SAMPLERS, PLANNED_SAMPLERS, SAMPLERS, Sampler, sample_configs
from trials.specs import SpecInvalid, SweepSpec, TuneRequest, parse_sweep_spec, parse_tune_request
from webui.forms import tune_sampler_options

TEMPLATES = Path(__file__).resolve().parents[2] / "webui" / "templates"
SPEC = {"owner": "ann", "name": "s", "datasets": ["digits"], "n_trials": 4}


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[name]


def _choices(parser: argparse.ArgumentParser, dest: str) -> list[str]:
    action = next(a for a in parser._actions if a.dest == dest)
    return list(action.choices or ())


def test_the_registry_splits_into_planned_and_model_based() -> None:
    assert list(SAMPLERS) == ["random", "sobol", "lhs", "grid", "tpe", "gp", "cmaes"]
    assert set(PLANNED_SAMPLERS) | set(MODEL_SAMPLERS) == set(SAMPLERS)
    assert not set(PLANNED_SAMPLERS) & set(MODEL_SAMPLERS)
    assert all(SAMPLERS[name].plan is not None for name in PLANNED_SAMPLERS)


def test_the_specs_accept_exactly_the_registrys_names() -> None:
    assert SweepSpec.model_json_schema()["properties"]["sampler"]["enum"] == list(SAMPLERS)
    assert TuneRequest.model_json_schema()["properties"]["sampler"]["enum"] == list(MODEL_SAMPLERS)
    for name in SAMPLERS:
        assert parse_sweep_spec({**SPEC, "sampler": name}).model_based is SAMPLERS[name].model_based
    for name in MODEL_SAMPLERS:
        assert parse_tune_request({"trials": 5, "sampler": name}).sampler == name
    with pytest.raises(SpecInvalid, match="sampler"):
        parse_sweep_spec({**SPEC, "sampler": "annealing"})
    with pytest.raises(SpecInvalid, match="sampler"):
        parse_tune_request({"trials": 5, "sampler": PLANNED_SAMPLERS[0]})


def test_the_cli_offers_exactly_the_model_based_samplers() -> None:
    tune = _subcommand(build_parser(), "tune")
    assert _choices(tune, "sampler") == list(MODEL_SAMPLERS)


def test_the_tune_form_offers_exactly_the_model_based_samplers() -> None:
    """The template as the sweep page renders it (webui/pages.py passes tune_sampler_options())."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    html = env.get_template("tune_form.html").render(tune_samplers=tune_sampler_options())
    select = re.search(r'<select name="sampler">(.*?)</select>', html, re.S)
    assert select is not None
    assert re.findall(r'<option value="([^"]+)">', select.group(1)) == list(MODEL_SAMPLERS)
    assert "Gaussian process" in select.group(1)


@pytest.mark.parametrize(("name", "cls"), [("tpe", TPESampler), ("gp", GPSampler), ("cmaes", CmaEsSampler)])
def test_a_model_based_entry_builds_its_optuna_sampler(name: str, cls: type) -> None:
    build = SAMPLERS[name].optuna
    assert build is not None
    assert isinstance(build(7), cls)


def test_only_planned_samplers_draw_up_front() -> None:
    with pytest.raises(ValueError, match="not a planned sampler"):
        sample_configs(preset("cnn-paper"), 4, "tpe")


def test_an_entry_is_planned_or_model_based_never_both() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Sampler("odd", "Odd", "neither")
    with pytest.raises(ValueError, match="exactly one"):
        Sampler("odd", "Odd", "both", plan=SAMPLERS["random"].plan, optuna=SAMPLERS["tpe"].optuna)


def test_a_samplers_check_runs_when_the_spec_is_validated() -> None:
    """grid declares its size check in the registry: the spec refuses a grid too large to shuffle."""
    assert SAMPLERS["grid"].check is not None
    huge = {f"p{i}": {"type": "categorical", "choices": list(range(30))} for i in range(8)}
    with pytest.raises(SpecInvalid, match=r"sampler: grid: .* or use random, sobol or lhs"):
        parse_sweep_spec({**SPEC, "space": huge, "sampler": "grid"})
