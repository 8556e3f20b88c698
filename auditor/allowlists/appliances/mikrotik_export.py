"""The syntax of a RouterOS ``/export`` (plain, ``verbose`` or ``terse``): menus and the items
their commands leave, as RouterOS would hold them after running the export as a script.

- A line that starts with ``/`` opens a menu (``/ip firewall filter``, ``/ip/firewall/filter``);
  words before the command go down into a sub-menu (``/ip firewall`` then ``filter add ...``,
  ``terse``: ``/ip firewall filter add ...`` on one line); ``{`` and ``}`` open and close a
  menu block.
- A line that ends in ``\\`` goes on in the next (the export wraps long lines, indenting the
  rest by four spaces): the backslash, the line break and that indentation are dropped.
- Words are ``key=value``; a value may be double-quoted, with RouterOS's escapes (``\\"``,
  ``\\\\``, ``\\n``, ``\\_`` for a space, ``\\XX`` a byte in hex); ``#`` starts a comment line.
- Commands in the menus read here: ``add`` (with ``place-before=N``: before the N-th item,
  counted from 0), ``set``, ``remove``, ``disable``, ``enable`` with item numbers (``0,2``) or
  ``[find key=value ...]`` (``where``, ``and`` allowed); ``disabled=yes`` items are kept, and
  skipped by the lowering. ``print``, ``export`` and ``:``-script lines are refused: only an
  export says what RouterOS holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.allowlists.base import ReaderError

COMMANDS = frozenset({"add", "set", "remove", "disable", "enable", "unset", "move", "comment"})
"""Words that end a menu path and start a command."""
OTHER_COMMANDS = frozenset({"print", "export", "edit", "find", "get", "reset", "monitor"})

READ_MENUS = frozenset(
    {
        ("ip", "firewall", "filter"),
        ("ipv6", "firewall", "filter"),
        ("ip", "firewall", "raw"),
        ("ipv6", "firewall", "raw"),
        ("ip", "firewall", "nat"),
        ("ipv6", "firewall", "nat"),
        ("ip", "firewall", "address-list"),
        ("ipv6", "firewall", "address-list"),
        ("interface", "list", "member"),
        ("interface", "list"),
    }
)
"""The menus whose items are kept; the lines of every other menu are looked at only for the
address lists they fill at run time (``address-list=``, ``address-lists=``)."""

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " "}
_HEX = re.compile(r"[0-9A-Fa-f]{2}")
_FIND = re.compile(r"\[\s*find\b(.*)\]", re.DOTALL)


@dataclass
class Item:
    """One item of a menu (a filter rule, an address-list entry), as the export set it."""

    menu: tuple[str, ...]
    line: int
    text: str
    """The command as written (continuations joined), for the user."""
    attrs: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.attrs.get(key, default)

    @property
    def disabled(self) -> bool:
        return self.attrs.get("disabled", "no") in ("yes", "true")


@dataclass
class Export:
    """The items of the menus read, in the order RouterOS holds them, and what else showed."""

    items: dict[tuple[str, ...], list[Item]] = field(default_factory=dict)
    menus: dict[tuple[str, ...], int] = field(default_factory=dict)
    """Every menu the export opens, with the line of its first opening."""
    fills: list[tuple[str, int, str]] = field(default_factory=list)
    """(list name, line, text): address lists filled at run time by another menu's item."""


def logical_lines(text: str, source: str = "") -> list[tuple[int, str]]:
    """(first line number, text) with continuations joined; a command whose last line goes on
    past the end of the file is an error (the file was cut short: the rest of the command,
    such as a rule's src-address, is lost)."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    physical = text.split("\n")
    for number, raw in enumerate(physical, 1):
        line = raw.rstrip("\r")
        if pending:
            line = line.lstrip(" \t")
            if not line and number == len(physical):
                break
        else:
            start = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        out.append((start, "".join(pending)))
        pending = []
    if pending:
        raise ReaderError(
            "the command goes on (a line ending in a backslash) past the end of the file:"
            " the file is cut short",
            source=source,
            line=start,
            hint="export the configuration again (/export file=NAME) and give the whole file",
        )
    return out


def words(text: str, source: str, line: int) -> list[str]:
    """The words of a command: quotes and escapes resolved, ``[...]`` kept whole."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        word: list[str] = []
        while i < n and text[i] not in " \t":
            c = text[i]
            if c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise ReaderError(
                            "a quoted value is not closed",
                            source=source,
                            line=line,
                            hint="give the export as RouterOS wrote it (lines ending in \\ go on"
                            " in the next)",
                        )
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\" and i + 1 < n:
                        nxt = text[i + 1]
                        if nxt in _ESCAPES:
                            word.append(_ESCAPES[nxt])
                            i += 2
                            continue
                        if _HEX.fullmatch(text[i + 1 : i + 3]):
                            word.append(chr(int(text[i + 1 : i + 3], 16)))
                            i += 3
                            continue
                    word.append(c)
                    i += 1
            elif c == "[":
                depth = 0
                while i < n:
                    c = text[i]
                    depth += (c == "[") - (c == "]")
                    word.append(c)
                    i += 1
                    if depth == 0:
                        break
                if depth:
                    raise ReaderError("a [ is not closed", source=source, line=line)
            else:
                word.append(c)
                i += 1
        out.append("".join(word))
    return out


def _menu_words(path: str) -> list[str]:
    return [w for w in re.split(r"[/ \t]+", path) if w]


def _pairs(args: Sequence[str], source: str, line: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not key:
            raise ReaderError(
                f"cannot read {arg!r}: expected key=value",
                source=source,
                line=line,
                hint="give the output of /export (or /export verbose, /export terse)",
            )
        out[key] = value
    return out


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.export = Export()

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.source, line=line, hint=hint)

    def run(self, text: str) -> Export:
        menu: tuple[str, ...] = ()
        stack: list[tuple[str, ...]] = []
        for line, raw in logical_lines(text, self.source):
            body = raw.strip()
            if not body or body.startswith("#"):
                continue
            if body.startswith(":"):
                raise self.error(
                    line,
                    f"a script command ({body.split()[0]}) is not read",
                    "give the output of /export: auditor reads what RouterOS holds, it does not"
                    " run scripts",
                )
            if body == "}":
                if not stack:
                    raise self.error(line, "a } without a {")
                menu = stack.pop()
                continue
            if body.startswith("/"):
                head = re.match(r"/[^ \t\[{]*(?:[ \t]+[A-Za-z0-9-]+(?=[ \t]|$|\{))*", body)
                path = _menu_words(head.group(0)) if head else []
                rest = body[head.end() :] if head else body
                split = next((k for k, w in enumerate(path) if w in COMMANDS), len(path))
                menu = tuple(path[:split])
                rest = " ".join(path[split:]) + " " + rest
                self.export.menus.setdefault(menu, line)
            else:
                rest = body
            rest = rest.strip()
            if rest.endswith("{"):
                stack.append(menu)
                menu = menu + tuple(_menu_words(rest[:-1]))
                self.export.menus.setdefault(menu, line)
                continue
            if rest:
                self.command(menu, rest, line, raw.strip())
        if stack:
            raise self.error(len(text.split("\n")), "a { is not closed")
        return self.export

    def command(self, menu: tuple[str, ...], rest: str, line: int, shown: str) -> None:
        found = words(rest, self.source, line)
        k = 0
        while k < len(found) and found[k] not in COMMANDS and found[k] not in OTHER_COMMANDS:
            if "=" in found[k]:
                break
            k += 1
        menu = menu + tuple(found[:k])
        if menu and k:
            self.export.menus.setdefault(menu, line)
        if k >= len(found) or found[k] not in COMMANDS:
            word = found[k] if k < len(found) else rest
            raise self.error(
                line,
                f"cannot read {word!r} in /{' '.join(menu)}",
                "give the output of /export (or /export verbose, /export terse)",
            )
        verb, args = found[k], found[k + 1 :]
        if menu not in READ_MENUS:
            self.fills(args, line, shown)
            return
        items = self.export.items.setdefault(menu, [])
        if verb == "add":
            attrs = _pairs(args, self.source, line)
            before = attrs.pop("place-before", None)
            item = Item(menu, line, shown, attrs)
            if before is None:
                items.append(item)
            else:
                items.insert(self.index(before, items, line), item)
            return
        if not args:
            raise self.error(line, f"{verb} without an item")
        chosen = self.select(args[0], items, line)
        if verb == "remove":
            for item in chosen:
                items.remove(item)
        elif verb in ("disable", "enable"):
            for item in chosen:
                item.attrs["disabled"] = "yes" if verb == "disable" else "no"
        elif verb == "set":
            attrs = _pairs(args[1:], self.source, line)
            for item in chosen:
                item.attrs.update(attrs)
                item.text += f"  (set at line {line}: {shown})"
        elif verb == "unset":
            for item in chosen:
                for key in args[1:]:
                    item.attrs.pop(key.removeprefix("value-name="), None)
        else:
            raise self.error(
                line,
                f"{verb} is not read in /{' '.join(menu)}",
                "give the output of /export, which lists the items in their order",
            )

    def fills(self, args: Sequence[str], line: int, shown: str) -> None:
        """Address lists another menu's item fills at run time (a DHCP server's leases, a
        PPP profile, a mangle rule)."""
        for arg in args:
            key, _, value = arg.partition("=")
            if key in ("address-list", "address-lists") and value:
                for name in value.split(","):
                    self.export.fills.append((name, line, shown))

    def index(self, text: str, items: list[Item], line: int) -> int:
        if not text.isdigit():
            raise self.error(
                line,
                f"place-before={text} names an item by something an export does not show",
                "give place-before as the item's number (0 is the first)",
            )
        return min(int(text), len(items))

    def select(self, text: str, items: list[Item], line: int) -> list[Item]:
        m = _FIND.fullmatch(text)
        if m is None:
            if not re.fullmatch(r"\d+(,\d+)*", text):
                raise self.error(
                    line,
                    f"cannot tell which item {text!r} names",
                    "name items by number (0,1) or with [find key=value]",
                )
            chosen = []
            for number in text.split(","):
                if int(number) >= len(items):
                    raise self.error(line, f"there is no item {number} here")
                chosen.append(items[int(number)])
            return chosen
        conds = [w for w in words(m.group(1), self.source, line) if w not in ("where", "and")]
        wanted = _pairs(conds, self.source, line)
        out = []
        for item in items:
            values = {"dynamic": "no", "disabled": "no", **item.attrs}
            if all(values.get(k, "") == v for k, v in wanted.items()):
                out.append(item)
        return out


def parse_export(text: str, source: str) -> Export:
    return _Parser(source).run(text)
