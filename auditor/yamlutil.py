"""Configuration YAML (the provider catalog, later the cron config): safe loading only, with
duplicate keys refused and each error given its line.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word; a catalog that says
``url:`` twice must not silently point somewhere else (RELIABILITY 3, YAML).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import yaml

from auditor.errors import InputError

# A configuration file bigger than this is not a configuration file.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(data: bytes, source: str) -> Any:
    """The document, or InputError with the file and line of the first problem."""
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"file is over {MAX_CONFIG_BYTES} bytes", source=source)
    try:
        return yaml.load(data, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"invalid YAML: {e.problem or e.context}", source=source, line=line
        ) from None
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {e}", source=source) from None


@functools.lru_cache(maxsize=2)
def _composed(data: bytes) -> yaml.Node | None:
    """The node tree of a document, composed once however many keys are looked up in it."""
    try:
        return yaml.compose(data, Loader=yaml.SafeLoader)  # noqa: S506 - the safe loader
    except yaml.YAMLError:
        return None


def key_line(data: bytes, path: Sequence[Any]) -> int | None:
    """The line (1-based) of the key at ``path`` in a document :func:`load_yaml` read: each
    step a mapping key; a step that is None or absent ends the walk at the deepest key found
    (None when not even the first is). The document is composed again, once for all lookups."""
    node = _composed(data)
    if node is None:
        return None
    line = None
    for step in path:
        if step is None or not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line
