"""What a member submits, bounded before anything trusts it: size, nesting, numbers, YAML aliases.

A spec arrives as JSON (the API), YAML (the submit page, `sweeprank submit`) or form fields. Before
pydantic sees it, the raw structure must be small and plain: nested at most `MAX_DEPTH` deep, every
number finite (JSON's `Infinity`/`NaN`, YAML's `.inf`/`.nan` are refused: stored, they read back as
null and break every reader), integers of a sane size, and YAML without aliases (an alias bomb
expands a few hundred bytes into gigabytes). Messages that echo a value echo at most `ECHO_CHARS`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from trials.errors import SpecError

MAX_DEPTH = 16  # a spec's deepest legitimate path is spec -> space -> parameters -> param -> choices -> value
MAX_NODES = 100_000  # values in one spec: every list item and mapping entry counts
MAX_INT = 2**63 - 1  # what Redis, numpy and JSON readers elsewhere all hold
MAX_TEXT = 256_000  # characters of a pasted or uploaded YAML / JSON spec
ECHO_CHARS = 300


def short(text: str, limit: int = ECHO_CHARS) -> str:
    """At most `limit` characters of a message that may quote what a member sent."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def check_plain(raw: object, field: str = "spec") -> None:
    """Refuse deep nesting, too many values, non-finite floats and huge integers, naming where (SpecError)."""
    seen = 0
    stack: list[tuple[object, str, int]] = [(raw, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or field
        seen += 1
        if seen > MAX_NODES:
            raise SpecError(field, f"holds more than {MAX_NODES:,} values")
        if depth > MAX_DEPTH:
            raise SpecError(where, f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(where, f"must be a finite number, got {value}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise SpecError(where, f"is an integer beyond ±{MAX_INT}")
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((v, f"{path}.{i}" if path else str(i), depth + 1) for i, v in enumerate(value))


def _refuse_constant(name: str) -> Any:
    raise SpecError("spec", f"{name} is not a number JSON allows (nor sweeprank): give a finite number")


def _refuse_long_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # more digits than MAX_INT: Python would parse it slowly or not at all
        raise SpecError("spec", f"an integer of {len(text)} digits is beyond ±{MAX_INT}")
    return int(text)


def load_json(text: str | bytes) -> object:
    """A JSON document from a member: Infinity/NaN refused, integers bounded, nesting bounded (SpecError)."""
    if len(text) > MAX_TEXT * 4:
        raise SpecError("spec", f"is longer than {MAX_TEXT * 4:,} bytes")
    try:
        raw = json.loads(text, parse_constant=_refuse_constant, parse_int=_refuse_long_int)
    except RecursionError:
        raise SpecError("spec", f"is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as err:
        if isinstance(err, SpecError):
            raise
        raise SpecError("spec", f"is not valid JSON: {short(str(err))}") from None
    check_plain(raw)
    return raw


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: a submitted spec has no use for them, and they are what bombs are made of."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in a submitted spec; write the value out", mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> object:
    """A YAML (or JSON) document from a member, bounded as `load_json`; SpecError says what is wrong in one line."""
    if len(text) > MAX_TEXT:
        raise SpecError("spec", f"is longer than {MAX_TEXT:,} characters")
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except RecursionError:
        raise SpecError("spec", f"is nested more than {MAX_DEPTH} levels deep") from None
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an integer too long for Python to parse
        raise SpecError("spec", f"is neither YAML nor JSON: {short(' '.join(str(err).split()))}") from None
    check_plain(raw)
    return raw
