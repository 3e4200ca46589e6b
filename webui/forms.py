"""The submit form: its fields, turning them into a spec, and placing errors next to the fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from werkzeug.datastructures import FileStorage, MultiDict

from trials.datasets import CATALOGUE
from trials.presets import preset
from trials.space import ChoiceParam, NumericParam, SearchSpace

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


@dataclass
class SubmitForm:
    """What the template needs: the preset's ranges, the values typed so far, errors by field."""

    space: SearchSpace = field(default_factory=lambda: preset(PRESET))
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # The datasets offered: those the pool has prepared (webui.submission.prepared_datasets).
    datasets: list[str] = field(default_factory=lambda: sorted(CATALOGUE))

    @property
    def ranges(self) -> list[NumericParam | ChoiceParam]:
        return [p for p in self.space.params if p.name != EPOCH_CAP]

    def add_errors(self, problems: list[tuple[str, str]], pasted: bool) -> None:
        """Errors of a pasted spec all sit by the spec box; form errors by their own field."""
        for where, message in problems:
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
    """The spec from the upload or the text box (YAML, which also reads JSON); (None, False) if neither."""
    upload = files.get("spec_file")
    text = upload.read().decode("utf-8", "replace") if upload and upload.filename else form.get("spec_text", "")
    if not text.strip():
        return None, False
    return yaml.safe_load(text), True


def spec_from_fields(form: MultiDict[str, str], space: SearchSpace) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A spec mapping from the form fields, and the problems found before validation (unparsable numbers)."""
    problems: list[tuple[str, str]] = []
    spec: dict[str, Any] = {
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
    narrow: dict[str, dict[str, Any]] = {}
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
