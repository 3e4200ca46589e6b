"""The submit form: its fields, turning them into a spec, and placing errors next to the fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from werkzeug.datastructures import FileStorage, MultiDict

from trials.datasets import CATALOGUE
from trials.errors import SpecError
from trials.json_types import JSONObject, JSONValue
from trials.presets import preset
from trials.samplers import MODEL_SAMPLERS, SAMPLERS
from trials.space import ChoiceParam, NumericParam, SearchSpace
from trials.specs import SweepSpec, member_field_problems
from trials.untrusted import check_plain, load_yaml, short

PRESET = "cnn-paper"
EPOCH_CAP = "epochs"  # the epoch cap is the high end of the preset's epochs range
# Fields the form shows itself; any other error field goes to the list at the top.
FORM_FIELDS = (
    "owner",
    "name",
    "datasets",
    "n_trials",
    "priority",
    "stop_when_stable",
    "seed",
    "max_train_examples",
    "spec",
)


# The submit form's fields as typed (text), the ticked datasets, and the ticked choices per hyperparameter.
FormValues = dict[str, str | int | list[str] | dict[str, list[str]]]


def tune_sampler_options() -> list[tuple[str, str]]:
    """The tune form's sampler select, (value, label): a tune sweep asks its configs of a model-based sampler."""
    return [(name, SAMPLERS[name].label) for name in MODEL_SAMPLERS]


@dataclass
class SubmitForm:
    """What the template needs: the preset's ranges, the values typed so far, errors by field."""

    space: SearchSpace = field(default_factory=lambda: preset(PRESET))
    values: FormValues = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # The datasets offered: those the pool has prepared (webui.submission.prepared_datasets).
    datasets: list[str] = field(default_factory=lambda: sorted(CATALOGUE))

    @property
    def ranges(self) -> list[NumericParam | ChoiceParam]:
        return [p for p in self.space.params if p.name != EPOCH_CAP]

    def add_errors(self, problems: list[tuple[str, str]], pasted: bool) -> None:
        """Errors of a pasted spec all sit by the spec box; form errors by their own field."""
        for where, message in problems:
            message = short(message)  # it may quote what was pasted
            if pasted:
                key, message = "spec", f"{where}: {message}"
            elif where.startswith("narrow."):
                key = where
            else:
                key = where.split(".")[0] if where.split(".")[0] in FORM_FIELDS else "general"
                if key == "general":
                    message = f"{where}: {message}"
            self.errors.setdefault(key, []).append(message)

    @property
    def general_errors(self) -> list[str]:
        return self.errors.get("general", [])


def _number(
    form: MultiDict[str, str],
    name: str,
    kind: type[int] | type[float],
    problems: list[tuple[str, str]],
    where: str | None = None,
) -> int | float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        problems.append((where or name, f"must be a {'whole number' if kind is int else 'number'}, got {text!r}"))
        return None


def pasted_spec(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> tuple[Any, bool]:
    """The spec from the upload or the text box (YAML, which also reads JSON); (None, False) if neither.

    SpecError when the text is not YAML, too large, or uses aliases (trials/untrusted.py).
    """
    upload = files.get("spec_file")
    text = upload.read().decode("utf-8", "replace") if upload and upload.filename else form.get("spec_text", "")
    if not text.strip():
        return None, False
    return load_yaml(text), True


def spec_from_fields(form: MultiDict[str, str], space: SearchSpace) -> tuple[JSONObject, list[tuple[str, str]]]:
    """A spec mapping from the form fields, and the problems found before validation (unparsable numbers)."""
    problems: list[tuple[str, str]] = []
    spec: JSONObject = {
        "space": PRESET,
        "name": form.get("name", "").strip(),
        "datasets": form.getlist("datasets"),
        "stop_when_stable": form.get("stop_when_stable") == "on",
    }
    if form.get("owner", "").strip():
        spec["owner"] = form["owner"].strip()
    for name, kind in (("n_trials", int), ("priority", int), ("seed", int), ("max_train_examples", int)):
        value = _number(form, name, kind, problems)
        if value is not None:
            spec[name] = value
    narrow: dict[str, Mapping[str, JSONValue]] = {}
    for param in space.params:
        where = f"narrow.{param.name}"
        if isinstance(param, ChoiceParam):
            chosen = form.getlist(f"{param.name}.choices")
            if chosen and len(chosen) < len(param.choices):
                # Checkbox values are text; map them back to the declared choices (ints stay ints).
                narrow[param.name] = {"choices": [c for c in param.choices if str(c) in chosen]}
            continue
        number: type[int] | type[float] = int if param.kind == "int" else float
        bounds = {
            end: v
            for end in ("low", "high")
            if (v := _number(form, f"{param.name}.{end}", number, problems, where)) is not None
        }
        if bounds:
            narrow[param.name] = bounds
    if narrow:
        spec["narrow"] = narrow
    return spec, problems


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


# Pydantic's error types in the words a form shows next to a field; a type not listed keeps pydantic's message.
PLAIN: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "is required",
    "string_too_short": lambda ctx: (
        "must not be empty" if ctx["min_length"] == 1 else f"needs at least {_count(ctx['min_length'])} characters"
    ),
    "string_too_long": lambda ctx: f"may have at most {_count(ctx['max_length'])} characters",
    "too_short": lambda ctx: "pick at least one" if ctx["min_length"] == 1 else f"pick at least {ctx['min_length']}",
    "too_long": lambda ctx: f"may have at most {_count(ctx['max_length'])} entries",
    "greater_than_equal": lambda ctx: f"must be at least {_count(ctx['ge'])}",
    "greater_than": lambda ctx: f"must be more than {_count(ctx['gt'])}",
    "less_than_equal": lambda ctx: f"must be at most {_count(ctx['le'])}",
    "less_than": lambda ctx: f"must be less than {_count(ctx['lt'])}",
    "int_parsing": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "bool_parsing": lambda ctx: "must be true or false",
    "bool_type": lambda ctx: "must be true or false",
    "string_type": lambda ctx: "must be text",
    "list_type": lambda ctx: "must be a list",
    "dict_type": lambda ctx: "must be a mapping",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "string_pattern_mismatch": lambda ctx: "may use only letters, digits, '_', '.' and '-' (at most 64)",
    "extra_forbidden": lambda ctx: "is not a spec field",
}


def plain_words(error: ErrorDetails) -> tuple[str, str]:
    """(field, message) of one pydantic error, in plain words; our own SpecErrors keep their field and message."""
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, SpecError):
        return cause.field or "spec", cause.message
    where = ".".join(str(part) for part in error["loc"]) or "spec"
    wording = PLAIN.get(error["type"])
    return where, wording(ctx) if wording else short(error["msg"].removeprefix("Value error, "))


def _base_space(space: object) -> SearchSpace | None:
    """The space a spec narrows, or None when it does not resolve (the spec's own validation says why)."""
    try:
        return preset(space) if isinstance(space, str) else SearchSpace.from_dict(space)
    except (SpecError, TypeError, ValueError, AttributeError):
        return None


def _narrow_problems(space: SearchSpace, narrow: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Each narrowed range checked on its own, so that every bad range is reported, not only the first."""
    problems = []
    for name, override in narrow.items():
        low, high = override.get("low"), override.get("high")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            problems.append((f"narrow.{name}", f"the low end ({low:g}) is above the high end ({high:g})"))
            continue
        try:
            space.narrow({name: override})
        except SpecError as err:
            problems.append((err.field or f"narrow.{name}", err.message))
    return problems


def spec_problems(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a spec mapping at once, in plain words: field errors and each bad narrowed range.

    Pydantic checks the whole-spec rule (the space resolves once narrowed) only when every field is valid, and
    narrowing stops at the first bad range; so the ranges are checked here on their own, beside the fields.
    """
    try:
        check_plain(raw)
    except SpecError as err:
        return [(err.field or "spec", err.message)]
    narrow, fields = raw.get("narrow"), dict(raw)
    space = _base_space(raw.get("space", PRESET))
    separate = (
        space is not None and isinstance(narrow, Mapping) and all(isinstance(o, Mapping) for o in narrow.values())
    )
    if separate:
        fields.pop("narrow")
    try:
        SweepSpec.model_validate(fields)
        problems = []
    except ValidationError as err:
        problems = [plain_words(e) for e in err.errors()]
    if separate and space is not None and isinstance(narrow, Mapping):
        problems += _narrow_problems(space, narrow)
    return member_field_problems(dict(raw)) + problems
