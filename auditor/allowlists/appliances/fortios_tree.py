"""The FortiOS configuration language: ``config``/``edit``/``set``/``next``/``end`` blocks, read
into a tree as the FortiGate applies them.

A backup or ``show full-configuration`` is the list of CLI commands that rebuilds the
configuration [Fortinet, "FortiOS CLI reference: CLI command syntax", docs.fortinet.com], so it
is read as commands, in order:

- ``config PATH`` opens a table (``config firewall address``), ``end`` closes it; a second
  ``config`` of the same path at the same level continues the table;
- ``edit NAME`` opens an entry of the table (an existing one is changed in place, and keeps its
  position), ``next`` closes it; ``end`` in an entry closes both;
- ``set KEY VALUES``, ``append KEY VALUES`` (adds to a list), ``unset KEY``, ``select`` (as
  ``set``) and ``unselect KEY VALUES`` (removes from a list) change the current entry or table;
- ``delete NAME``, ``purge``, ``rename OLD to NEW`` and ``move NAME before|after OTHER``
  change the table's entries (``rename`` also renames the references of the objects' usual
  users: policies and groups);
- values are words or ``"quoted strings"`` (``\\`` escapes the next character; a quoted string
  may span lines); words and quoted parts that touch form one value; a line whose first
  character (after indentation) is ``#`` is a comment.

Anything else is an error with its line: what is not understood is never skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.allowlists.base import ReaderError


@dataclass(frozen=True)
class Setting:
    values: tuple[str, ...]
    line: int


@dataclass(eq=False)
class Node:
    """What ``set`` changes: an entry, or a table without entries (``config system global``)."""

    line: int
    settings: dict[str, Setting] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)

    def get(self, key: str) -> tuple[str, ...]:
        s = self.settings.get(key)
        return s.values if s is not None else ()

    def word(self, key: str, default: str = "") -> str:
        values = self.get(key)
        return values[0] if values else default

    def at(self, key: str) -> int:
        """The line a setting was last changed on (the node's own line when it was not)."""
        s = self.settings.get(key)
        return s.line if s is not None else self.line

    def table(self, path: str) -> Table | None:
        return self.tables.get(path)


@dataclass(eq=False)
class Entry(Node):
    name: str = ""


@dataclass(eq=False)
class Table(Node):
    path: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)
    end_line: int = 0


# Reference keys renamed with an object, per table path of the object.
_ADDRESS_USERS = ("srcaddr", "dstaddr", "member", "exclude-member")
_REFERENCES = {
    "firewall address": _ADDRESS_USERS,
    "firewall addrgrp": _ADDRESS_USERS,
    "firewall address6": ("srcaddr6", "dstaddr6", "srcaddr", "dstaddr", "member"),
    "firewall addrgrp6": ("srcaddr6", "dstaddr6", "srcaddr", "dstaddr", "member"),
    "firewall service custom": ("service", "member"),
    "firewall service group": ("service", "member"),
    "system zone": ("srcintf", "dstintf"),
}

_TOKEN = re.compile(
    r'"(?P<dq>(?:[^"\\]|\\.)*)"'
    r"|'(?P<sq>(?:[^'\\]|\\.)*)'"
    r"|(?P<bare>[^\s\"']+)"
    r"|(?P<nl>\n)"
    r"|(?P<ws>[ \t\r\f\v]+)"
    r"|(?P<bad>[\"'])",
    re.DOTALL,
)
_COMMENT = re.compile(r"[ \t\r]*#[^\n]*")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def commands(text: str, source: str) -> list[tuple[int, list[str]]]:
    """The commands of the text: (line, words) each, comments and blank lines left out."""
    out: list[tuple[int, list[str]]] = []
    pos, line, n = 0, 1, len(text)
    words: list[str] = []
    start = 1
    joined = False  # the next part touches the previous one (no blank between)
    at_line_start = True
    while pos < n:
        if at_line_start:
            m = _COMMENT.match(text, pos)
            if m is not None:
                pos = m.end()
            at_line_start = False
            continue
        m = _TOKEN.match(text, pos)
        if m is None:  # (every character starts one of the alternatives)
            raise ReaderError("unreadable text", source=source, line=line)
        kind = m.lastgroup
        if kind == "bad":
            raise ReaderError(
                "a quoted value is not closed",
                source=source,
                line=line,
                hint="the file is cut short or damaged: take the backup again",
            )
        if kind == "nl":
            if words:
                out.append((start, words))
                words = []
            line += 1
            at_line_start = True
            joined = False
        elif kind == "ws":
            joined = False
        else:
            raw = m.group(kind)  # type: ignore[arg-type]
            part = _ESCAPE.sub(r"\1", raw) if kind != "bare" else raw
            if not words:
                start = line
            if joined and words:
                words[-1] += part
            else:
                words.append(part)
            joined = True
            line += raw.count("\n")
        pos = m.end()
    if words:
        out.append((start, words))
    return out


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.root = Table(line=0, path="")
        self.stack: list[Node] = [self.root]
        self.refused: list[tuple[int, str]] = []
        """Commands the FortiGate refuses and goes past (a rename of an entry that does not
        exist): line and why."""

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.source, line=line, hint=hint)

    def run(self, cmds: list[tuple[int, list[str]]]) -> Table:
        for line, words in cmds:
            self.command(line, words)
        if len(self.stack) > 1:
            node = self.stack[-1]
            what = f"edit {node.name}" if isinstance(node, Entry) else f"config {_path(node)}"
            raise self.error(
                node.line,
                f"{what} is not closed at the end of the file",
                "the configuration is cut short: take the whole backup again",
            )
        return self.root

    def command(self, line: int, words: list[str]) -> None:
        verb, args = words[0], words[1:]
        top = self.stack[-1]
        if verb == "config":
            if not args:
                raise self.error(line, "config without a path")
            path = " ".join(args)
            table = top.tables.get(path)
            if table is None:
                table = top.tables[path] = Table(line=line, path=path)
            self.stack.append(table)
        elif verb == "edit":
            if not isinstance(top, Table) or top is self.root or len(args) != 1:
                raise self.error(line, "edit outside a config table, or without one name")
            entry = top.entries.get(args[0])
            if entry is None:
                entry = top.entries[args[0]] = Entry(line=line, name=args[0])
            self.stack.append(entry)
        elif verb == "next":
            if not isinstance(top, Entry):
                raise self.error(line, "next without an edit")
            self.stack.pop()
        elif verb == "end":
            if isinstance(top, Entry):
                self.stack.pop()
                top = self.stack[-1]
            if top is self.root or not isinstance(top, Table):
                raise self.error(line, "end without a config")
            top.end_line = line
            self.stack.pop()
        elif verb in ("set", "select", "append", "unset", "unselect"):
            self.change(top, line, verb, args)
        elif verb in ("delete", "purge", "rename", "move"):
            self.entries(top, line, verb, args)
        elif verb in ("show", "get", "abort"):
            raise self.error(
                line,
                f"{verb!r} is a command of an interactive session, not of a configuration",
                "give the output of `show full-configuration` or a backup file",
            )
        else:
            raise self.error(
                line,
                f"unknown command {verb!r}",
                "a FortiOS configuration holds config, edit, set, next and end lines",
            )

    def change(self, node: Node, line: int, verb: str, args: list[str]) -> None:
        if node is self.root:
            raise self.error(line, f"{verb} outside a config block")
        if not args:
            raise self.error(line, f"{verb} without a setting name")
        key, values = args[0], tuple(args[1:])
        old = node.get(key)
        if verb in ("set", "select"):
            node.settings[key] = Setting(values, line)
        elif verb == "append":
            node.settings[key] = Setting(old + tuple(v for v in values if v not in old), line)
        elif verb == "unset":
            node.settings.pop(key, None)
        else:
            node.settings[key] = Setting(tuple(v for v in old if v not in values), line)

    def entries(self, node: Node, line: int, verb: str, args: list[str]) -> None:
        if not isinstance(node, Table) or node is self.root:
            raise self.error(line, f"{verb} outside a config table")
        if verb == "purge":
            node.entries.clear()
        elif verb == "delete":
            if len(args) != 1:
                raise self.error(line, "delete names one entry")
            node.entries.pop(args[0], None)
        elif verb == "rename":
            if len(args) != 3 or args[1] != "to":
                raise self.error(line, "rename is `rename OLD to NEW`")
            self.rename(node, line, args[0], args[2])
        else:
            if len(args) != 3 or args[1] not in ("before", "after"):
                raise self.error(line, "move is `move ID before|after ID`")
            self.move(node, line, args[0], args[1], args[2])

    def rename(self, table: Table, line: int, old: str, new: str) -> None:
        if old not in table.entries or new in table.entries:
            why = "it does not exist" if old not in table.entries else f"{new!r} exists"
            self.refused.append((line, f"rename {old!r} to {new!r} refused: {why}"))
            return
        items = [(new if k == old else k, v) for k, v in table.entries.items()]
        table.entries = dict(items)
        table.entries[new].name = new
        keys = _REFERENCES.get(table.path, ())
        if keys:
            holder = self.stack[-2] if len(self.stack) > 1 else self.root
            _rename_references(holder, keys, old, new)

    def move(self, table: Table, line: int, name: str, where: str, other: str) -> None:
        for n in (name, other):
            if n not in table.entries:
                self.refused.append((line, f"move refused: no entry {n!r} in config {table.path}"))
                return
        entry = table.entries.pop(name)
        items = list(table.entries.items())
        at = [k for k, _ in items].index(other) + (where == "after")
        items.insert(at, (name, entry))
        table.entries = dict(items)


def _rename_references(node: Node, keys: tuple[str, ...], old: str, new: str) -> None:
    for table in node.tables.values():
        for entry in table.entries.values():
            for key in keys:
                s = entry.settings.get(key)
                if s is not None and old in s.values:
                    values = tuple(new if v == old else v for v in s.values)
                    entry.settings[key] = Setting(values, s.line)
            _rename_references(entry, keys, old, new)


def _path(node: Node) -> str:
    return node.path if isinstance(node, Table) else ""


def parse_tree(text: str, source: str) -> tuple[Table, list[tuple[int, str]]]:
    """The configuration's tree: the root table, whose tables are the top-level ``config``
    blocks (and ``config vdom``'s entries hold each VDOM's own); and the commands the
    FortiGate would refuse and go past (line, why)."""
    builder = _Builder(source)
    return builder.run(commands(text, source)), builder.refused
