"""JSON before a model gives it a shape: a member's request body, a task's arguments on the wire, a journal entry.

Only for values that really are arbitrary JSON at that point; a known shape gets a model or a TypedDict.
Read-only containers (Sequence, Mapping) inside, so a `dict[str, str]` or a `list[int]` is a JSON value too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSONValue: TypeAlias = str | int | float | bool | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
JSONObject: TypeAlias = dict[str, JSONValue]
