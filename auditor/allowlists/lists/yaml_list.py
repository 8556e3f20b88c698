"""YAML allowlists: a list of entries, or named groups (usable as scopes) mapping to lists.

The document is composed into nodes with PyYAML's safe machinery and walked by hand, so that
every entry keeps its line, duplicate keys are rejected, tags outside the YAML core schema
(``!!python/object`` ...) are refused without constructing anything, and every entry must be
a string: YAML 1.1 reads unquoted ``1:2:3:4:5:6:7:8`` as a base-60 integer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.allowlists.base import Collector, ReadContext, Reader, ReaderError
from auditor.model import RangeSet, Severity

if TYPE_CHECKING:
    import yaml


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
# A billion-laughs document expands aliases; cap how many nodes one walk may visit.
MAX_NODES = 2_000_000


_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_CORE = "tag:yaml.org,2002:"


def _typed_value(node: yaml.Node) -> str:
    """What YAML made of a node, for a message: described from the node, never constructed
    (constructing could expand an alias bomb or a 5000-digit integer)."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    kind = node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else f"tag {node.tag}"
    raw = str(node.value)
    if len(raw) > 40:
        return f"{kind} {raw[:37] + '...'!r}"
    if isinstance(node, yaml.ScalarNode) and node.tag.startswith(_CORE):
        # a short scalar has no children: constructing it is cheap and safe
        try:
            value = yaml.constructor.SafeConstructor().construct_object(node)
        except (yaml.YAMLError, ValueError):
            return f"{kind} {raw!r}"
        if str(value) != raw:
            return f"{kind} {value!r} (from {raw!r})"
    return f"{kind} {raw!r}"


def _check_tag(node: yaml.Node, expected: str, where: str, ctx: ReadContext) -> None:
    """Refuse any tag outside the core schema on a list or a mapping, naming it."""
    if node.tag != expected:
        raise ReaderError(
            f"{where} has the tag {node.tag}, which is refused",
            source=ctx.name,
            line=_mark(node),
            hint="an allowlist uses plain YAML lists, mappings and strings only",
        )


def _mark(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class YamlReader(Reader):
    name = "yaml"
    description = "a YAML list, or groups (scopes) mapping to lists"
    suffixes = (".yaml", ".yml")

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        import yaml

        try:
            root = yaml.compose(data, Loader=yaml.SafeLoader)
        except RecursionError:
            raise ReaderError("YAML nesting is too deep", source=ctx.name) from None
        except yaml.MarkedYAMLError as e:
            line = e.problem_mark.line + 1 if e.problem_mark else None
            raise ReaderError(f"invalid YAML: {e.problem}", source=ctx.name, line=line) from None
        except yaml.YAMLError as e:
            raise ReaderError(f"invalid YAML: {e}", source=ctx.name) from None
        if root is None:
            raise ReaderError(
                "empty YAML document", source=ctx.name, hint="write [] to allow nothing"
            )
        out = Collector(ctx, self.name)
        self._visited = 0
        if isinstance(root, yaml.SequenceNode):
            self._walk_list(root, out, "", None)
        elif isinstance(root, yaml.MappingNode):
            _check_tag(root, _MAP, "the document", ctx)
            _refuse_manifest(root, ctx)
            for key, value in self._pairs(root, out, ""):
                out.group(key)
                self._walk_list(value, out, key, key)
        else:
            raise ReaderError(
                "the YAML document must be a list of entries or a mapping of groups to lists",
                source=ctx.name,
                line=_mark(root),
            )
        return out.result(data, explicit_empty=ctx.role == "declared")

    def _pairs(
        self, node: yaml.MappingNode, out: Collector, path: str
    ) -> list[tuple[str, yaml.Node]]:

        seen: dict[str, int] = {}
        pairs = []
        for key_node, value in node.value:
            if key_node.tag != _STR:
                raise ReaderError(
                    f"group name at {path or 'top level'} is {_typed_value(key_node)}, "
                    "not a string",
                    source=out.ctx.name,
                    line=_mark(key_node),
                    hint="quote the group name",
                )
            key = str(key_node.value)
            if key in seen:
                raise ReaderError(
                    f"duplicate key {key!r} (first at line {seen[key]})",
                    source=out.ctx.name,
                    line=_mark(key_node),
                    hint="YAML keeps only the last value of a repeated key; merge the two lists",
                )
            seen[key] = _mark(key_node)
            pairs.append((key, value))
        return pairs

    def _walk_list(self, node: yaml.Node, out: Collector, path: str, group: str | None) -> None:
        import yaml

        ctx = out.ctx
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            raise ReaderError(
                f"group {path!r} has no list",
                source=ctx.name,
                line=_mark(node),
                hint="write [] for a group that allows nothing",
            )
        if not isinstance(node, yaml.SequenceNode):
            raise ReaderError(
                f"{path or 'the document'} must be a list of entries",
                source=ctx.name,
                line=_mark(node),
            )
        _check_tag(node, _SEQ, f"group {path!r}" if path else "the document", ctx)
        for i, item in enumerate(node.value):
            self._visited += 1
            if self._visited > MAX_NODES:
                raise ReaderError("too many YAML nodes (alias expansion?)", source=ctx.name)
            where = f"{path}[{i}]"
            origin = out.origin(_mark(item), where)
            if not isinstance(item, yaml.ScalarNode) or item.tag != _STR:
                self._not_a_string(item, where, out)
                continue
            out.add_text(str(item.value).strip(), origin, group)

    def _not_a_string(self, item: yaml.Node, where: str, out: Collector) -> None:
        import yaml

        origin = out.origin(_mark(item), where)
        if isinstance(item, yaml.ScalarNode) and item.tag.startswith("tag:yaml.org,2002:"):
            message = f"entry {where} is {_typed_value(item)}, not a string"
            if ":" in str(item.value) and item.tag.endswith(":int"):
                message += (
                    f" (YAML 1.1 reads unquoted {item.value} as a base-60 integer;"
                    f" quote it: '{item.value}')"
                )
            else:
                message += " (quote every entry)"
        else:
            message = (
                f"entry {where} is not a plain string (tag {item.tag}); entries are strings,"
                " custom tags such as !!python/object are refused"
            )
        out.note("bad-entry", Severity.ERROR, message, origin)


def _refuse_manifest(root: yaml.MappingNode, ctx: ReadContext) -> None:
    """A Kubernetes manifest (``apiVersion`` and ``kind`` at the top) is not a mapping of
    groups to lists: its ipBlock rules are a policy with selectors and ports, which this
    reader does not evaluate."""
    top = {
        str(k.value): v
        for k, v in root.value
        if getattr(k, "value", None) in ("apiVersion", "kind")
    }
    if len(top) < 2:
        return
    kind = str(getattr(top["kind"], "value", "")) or "resource"
    raise ReaderError(
        f"this looks like a Kubernetes {kind} manifest, not an allowlist",
        source=ctx.name,
        line=_mark(root.value[0][0]),
        hint="give its source ranges as a list: kubectl get networkpolicy NAME -o"
        " jsonpath='{..ipBlock.cidr}' | tr ' ' '\\n'; its except: ranges and ports are not"
        " in that list",
    )
