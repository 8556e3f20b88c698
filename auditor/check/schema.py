"""The subset of JSON Schema (2020-12) that ``data/check.schema.json`` uses, checked without
a dependency: type, enum, properties, additionalProperties, propertyNames (pattern),
required, items, minItems, minProperties, minLength, minimum, maximum, exclusiveMinimum and
local ``$ref``. The schema file is the one description of the configuration: this module
reads it, and the tests check it with a full validator.

Each problem is a :class:`Problem` with the path of the key at fault, so the caller can give
its line in the YAML file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class Problem:
    path: tuple[str, ...]
    """The keys from the document's root to the one at fault."""
    message: str
    hint: str | None = None


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name != "boolean":
        return False
    return isinstance(value, _TYPES[name])


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "the document"


def _describe(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "empty"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)


def check(root: dict[str, Any], value: Any) -> list[Problem]:
    """Every problem of ``value`` against the schema ``root``."""
    out: list[Problem] = []
    _check(root, root, value, (), out)
    return out


def _check(
    root: dict[str, Any], schema: dict[str, Any], value: Any, path: tuple[str, ...], out: list
) -> None:
    ref = schema.get("$ref")
    if ref is not None:
        target: Any = root
        for step in ref.removeprefix("#/").split("/"):
            target = target[step]
        _check(root, target, value, path, out)
        return
    where = _where(path)
    if "enum" in schema and not any(
        value == choice and type(value) is type(choice) for choice in schema["enum"]
    ):
        choices = ", ".join(str(c) for c in dict.fromkeys(str(c) for c in schema["enum"]))
        out.append(Problem(path, f"{where}: {value!r} is not allowed", f"choose {choices}"))
        return
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, n) for n in names):
            want = " or ".join("a whole number" if n == "integer" else f"a {n}" for n in names)
            want = want.replace("a object", "a mapping").replace("a array", "a list")
            out.append(Problem(path, f"{where}: expected {want}, got {_describe(value)}"))
            return
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        out.append(Problem(path, f"{where}: must not be empty"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        above = schema.get("exclusiveMinimum")
        if (low is not None and value < low) or (high is not None and value > high):
            out.append(Problem(path, f"{where}: {value!r} is not in {low}..{high}"))
        elif above is not None and value <= above:
            out.append(Problem(path, f"{where}: {value!r} must be more than {above}"))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(Problem(path, f"{where}: the list is empty"))
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                before = len(out)
                _check(root, items, item, path, out)
                for j in range(before, len(out)):  # name the item, keep the key's path
                    p = out[j]
                    out[j] = Problem(p.path, p.message.replace(where, f"{where}[{i}]", 1), p.hint)
    if isinstance(value, dict):
        _check_object(root, schema, value, path, out)


def _check_object(
    root: dict[str, Any],
    schema: dict[str, Any],
    value: dict[Any, Any],
    path: tuple[str, ...],
    out: list,
) -> None:
    where = _where(path)
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames", {}).get("pattern")
    if len(value) < schema.get("minProperties", 0):
        out.append(Problem(path, f"{where}: is empty"))
    for key in schema.get("required", ()):
        if key not in value:
            out.append(Problem(path, f"{where}: the key {key}: is missing"))
    for key, item in value.items():
        here = (*path, str(key))
        if not isinstance(key, str):
            out.append(Problem(here, f"{where}: the key {key!r} is not a string"))
            continue
        if names is not None and not re.fullmatch(names, key):
            out.append(Problem(here, f"{where}: invalid name {key!r}", f"names match {names}"))
            continue
        if key in props:
            _check(root, props[key], item, here, out)
        elif extra is False:
            close = difflib.get_close_matches(key.replace("-", "_"), list(props), 1, 0.6)
            hint = f"did you mean {close[0]}?" if close else None
            hint = hint or ("keys: " + ", ".join(props) if props else None)
            out.append(Problem(here, f"{where}: unknown key {key!r}", hint))
        elif isinstance(extra, dict):
            _check(root, extra, item, here, out)
