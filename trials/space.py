"""Search spaces: typed hyperparameters with DECLARED bounds.

The declared bounds matter beyond validation: N-RReliefF measures differences on
the unit scale of the declared range (log10 where the range is log-scaled), so
adding trials never rescales earlier distances (docs/architecture.md, "The importance engine").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from trials.errors import SpecError

Value = int | float | str
ParamKind = Literal["float", "int", "ordinal", "categorical"]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class NumericParam:
    """A float or int range, optionally log-scaled."""

    name: str
    kind: Literal["float", "int"]
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (_is_number(self.low) and _is_number(self.high)):
            raise SpecError(self.name, f"low and high must be numbers, got {self.low!r}, {self.high!r}")
        if not math.isfinite(self.low) or not math.isfinite(self.high) or self.low > self.high:
            raise SpecError(self.name, f"needs finite low <= high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise SpecError(self.name, f"a log-scaled range needs low > 0, got low={self.low}")
        if self.kind == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise SpecError(self.name, f"int bounds must be integers, got {self.low}, {self.high}")

    def validate(self, value: object) -> Value:
        if not _is_number(value):
            raise SpecError(self.name, f"must be a number, got {value!r}")
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise SpecError(self.name, f"must lie in [{self.low:g}, {self.high:g}], got {value!r}")
        if self.kind == "int":
            if number != int(number):
                raise SpecError(self.name, f"must be an integer, got {value!r}")
            return int(number)
        return number

    def _scaled(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def unit(self, value: Value) -> float:
        """Position of a (validated) value on the declared range, in [0, 1]."""
        lo, hi = self._scaled(self.low), self._scaled(self.high)
        return 0.0 if hi == lo else (self._scaled(float(value)) - lo) / (hi - lo)

    def from_unit(self, u: float) -> Value:
        """The value at unit position u; ints get equal-width cells per integer."""
        if self.kind == "float":
            lo, hi = self._scaled(self.low), self._scaled(self.high)
            scaled = lo + u * (hi - lo)
            return min(max(10**scaled if self.log else scaled, self.low), self.high)
        lo_edge, hi_edge = self.low - 0.5, self.high + 0.5
        if self.log:
            lo_log, hi_log = math.log(max(lo_edge, self.low / 2)), math.log(hi_edge)
            raw = math.exp(lo_log + u * (hi_log - lo_log))
        else:
            raw = lo_edge + u * (hi_edge - lo_edge)
        return int(min(max(round(raw), self.low), self.high))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.kind,
            "low": _plain(self.low, self.kind),
            "high": _plain(self.high, self.kind),
        }
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class ChoiceParam:
    """A finite list of values; `ordered` makes it ordinal (diff by position)."""

    name: str
    kind: Literal["ordinal", "categorical"]
    choices: tuple[Value, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise SpecError(self.name, "needs at least one choice")
        if len(set(self.choices)) != len(self.choices):
            raise SpecError(self.name, f"choices must be distinct, got {list(self.choices)}")

    def validate(self, value: object) -> Value:
        for choice in self.choices:
            if value == choice and type(value) is not bool:
                return choice
            if isinstance(choice, (int, float)) and isinstance(value, str):
                try:
                    if float(value) == choice:
                        return choice
                except ValueError:
                    pass
        raise SpecError(self.name, f"must be one of {list(self.choices)}, got {value!r}")

    def index(self, value: Value) -> int:
        return self.choices.index(value)

    def unit(self, value: Value) -> float:
        last = len(self.choices) - 1
        return 0.0 if last == 0 else self.index(value) / last

    def from_unit(self, u: float) -> Value:
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "choices": list(self.choices)}


Param = NumericParam | ChoiceParam


def _plain(number: float, kind: str) -> float | int:
    return int(number) if kind == "int" else number


def param_from_dict(name: str, raw: object) -> Param:
    """Build one hyperparameter from its space-file form."""
    if not isinstance(raw, Mapping):
        raise SpecError(name, f"must be a mapping with a 'type', got {raw!r}")
    kind = raw.get("type")
    allowed = {
        "float": {"type", "low", "high", "log"},
        "int": {"type", "low", "high", "log"},
        "ordinal": {"type", "choices"},
        "categorical": {"type", "choices"},
    }
    if kind not in allowed:
        raise SpecError(f"{name}.type", f"must be one of {sorted(allowed)}, got {kind!r}")
    unknown = set(raw) - allowed[kind]
    if unknown:
        raise SpecError(name, f"unknown keys {sorted(unknown)} for type {kind}")
    if kind in ("float", "int"):
        for key in ("low", "high"):
            if key not in raw:
                raise SpecError(f"{name}.{key}", "is required")
        log = raw.get("log", False)
        if not isinstance(log, bool):
            raise SpecError(f"{name}.log", f"must be true or false, got {log!r}")
        return NumericParam(name, kind, raw["low"], raw["high"], log)
    choices = raw.get("choices")
    if not isinstance(choices, Sequence) or isinstance(choices, str):
        raise SpecError(f"{name}.choices", f"must be a list, got {choices!r}")
    if not all(isinstance(c, (int, float, str)) and not isinstance(c, bool) for c in choices):
        raise SpecError(f"{name}.choices", f"must hold numbers or strings, got {list(choices)}")
    return ChoiceParam(name, kind, tuple(choices))


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of hyperparameters; the order is the column order of the math."""

    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        if not self.params:
            raise SpecError("parameters", "a search space needs at least one hyperparameter")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise SpecError("parameters", f"names must be distinct, got {names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise SpecError(name, f"is not a hyperparameter of this space (known: {self.names})")

    @classmethod
    def from_dict(cls, raw: object) -> SearchSpace:
        """Parse `{"parameters": {name: {...}}}` (the space-file form) or the bare mapping."""
        if isinstance(raw, Mapping) and "parameters" in raw:
            raw = raw["parameters"]
        if not isinstance(raw, Mapping):
            raise SpecError("parameters", f"must be a mapping of name -> definition, got {type(raw).__name__}")
        return cls(tuple(param_from_dict(str(name), spec) for name, spec in raw.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": {p.name: p.to_dict() for p in self.params}}

    def validate_config(self, config: Mapping[str, object], where: str = "config") -> dict[str, Value]:
        """A config with exactly this space's names, each value inside its declared range."""
        missing = [n for n in self.names if n not in config]
        extra = [n for n in config if n not in self.names]
        if missing or extra:
            raise SpecError(where, f"must name exactly the space's hyperparameters; missing {missing}, unknown {extra}")
        return {p.name: _validate_at(p, config[p.name], where) for p in self.params}

    def validate_subset(self, values: Mapping[str, object], where: str) -> dict[str, Value]:
        """Values of some of this space's hyperparameters, each inside its declared range."""
        unknown = [n for n in values if n not in self.names]
        if unknown:
            raise SpecError(where, f"names unknown hyperparameters {unknown} (known: {self.names})")
        return {p.name: _validate_at(p, values[p.name], where) for p in self.params if p.name in values}

    def narrow(self, overrides: Mapping[str, Mapping[str, object]]) -> SearchSpace:
        """A sub-space: each override must stay inside the original declaration."""
        for name in overrides:
            if name not in self.names:
                raise SpecError(f"narrow.{name}", f"is not a hyperparameter of this space (known: {self.names})")
        return SearchSpace(tuple(_narrowed(p, overrides[p.name]) if p.name in overrides else p for p in self.params))


def _validate_at(param: Param, value: object, where: str) -> Value:
    try:
        return param.validate(value)
    except SpecError as err:
        raise SpecError(f"{where}.{param.name}", err.message) from None


def _narrowed(param: Param, override: Mapping[str, object]) -> Param:
    where = f"narrow.{param.name}"
    if isinstance(param, NumericParam):
        unknown = set(override) - {"low", "high"}
        if unknown:
            raise SpecError(where, f"can only set low/high, got {sorted(unknown)}")
        low = float(_validate_at(param, override.get("low", param.low), "narrow"))
        high = float(_validate_at(param, override.get("high", param.high), "narrow"))
        try:
            return replace(param, low=low, high=high)
        except SpecError as err:
            raise SpecError(where, err.message) from None
    unknown = set(override) - {"choices"}
    if unknown:
        raise SpecError(where, f"can only set choices, got {sorted(unknown)}")
    raw_choices = override.get("choices")
    if not isinstance(raw_choices, Sequence) or isinstance(raw_choices, str) or not raw_choices:
        raise SpecError(where, f"choices must be a non-empty list, got {raw_choices!r}")
    chosen = {_validate_at(param, c, "narrow") for c in raw_choices}
    # Keep the declared order so ordinal positions stay meaningful.
    return replace(param, choices=tuple(c for c in param.choices if c in chosen))
