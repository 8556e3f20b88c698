"""PAN-OS configurations as text: the ``set`` form (``set cli config-output-format set`` then
``show config running``, or a file of ``set`` lines) and the brace form (``show config
running`` as the CLI prints it by default: ``rulebase { security { rules { R { from untrust;
... } } } }``). Both are made into :class:`Statement` s, the words of one setting from the top
of the configuration down, as :mod:`auditor.allowlists.appliances.panos_xml` makes them from
the XML: :mod:`auditor.allowlists.appliances.panos_model` reads the one form.

Words are separated by blanks; ``"..."`` (or ``'...'``) is one word, quotes removed;
``[ a b ]`` is a list of members. ``#`` starts a comment line. In the set form, lines that
are not ``set`` commands (``delete``, ``move``, ``edit``) are refused: the reader reads a saved
configuration, not a change to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.allowlists.base import ReadContext, ReaderError

Item = str | tuple[str, ...]
"""A word, or a ``[ ... ]`` list of members."""


@dataclass(frozen=True)
class Statement:
    """One setting: its words from the top of the configuration, and where it is."""

    items: tuple[Item, ...]
    line: int | None
    path: str | None = None
    """For the XML: the element's path (``/config/devices/entry[@name='...']/...``)."""


_TOKEN = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([\[\]{};])|([^\s\[\]{};\"']+)")
_BAD_QUOTE = re.compile(r"[\"']")
_HEADER = re.compile(r"(?:show config (?:running|merged|candidate|pushed-shared-policy)\b.*)$")


def _tokens(text: str, line: int, ctx: ReadContext) -> list[str | None]:
    """The words of a line; None stands for the punctuation ``[ ] { } ;`` (as its own
    character in a list beside it)."""
    out: list[str | None] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        gap = text[pos : m.start()]
        if gap.strip():
            raise _unterminated(ctx, line)
        pos = m.end()
        if m.group(3) is not None:
            out.append(None)
            out.append(m.group(3))
        elif m.group(1) is not None:
            out.append(m.group(1).replace('\\"', '"'))
        elif m.group(2) is not None:
            out.append(m.group(2))
        else:
            out.append(m.group(4))
    if text[pos:].strip():
        raise _unterminated(ctx, line)
    return out


def _unterminated(ctx: ReadContext, line: int) -> ReaderError:
    return ReaderError(
        "a quoted word is not closed",
        source=ctx.name,
        line=line,
        hint='close the quote ("name with spaces")',
    )


class Punct(str):
    """``{``, ``}`` or ``;`` of the brace form (a quoted ``"{"`` is a word)."""


def _items(tokens: list[str | None], ctx: ReadContext, line: int) -> list[Item]:
    """Words, ``[ ]`` lists and :class:`Punct` marks."""
    out: list[Item] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok is None and tokens[k + 1] == "[":
            members: list[str] = []
            k += 2
            while k < len(tokens) and tokens[k] is not None:
                members.append(str(tokens[k]))
                k += 1
            if k >= len(tokens) or tokens[k + 1] != "]":
                raise ReaderError(
                    "a [ list ] is not closed",
                    source=ctx.name,
                    line=line,
                    hint="end the list with ] on the same line",
                )
            out.append(tuple(members))
            k += 2
            continue
        if tok is None:
            if tokens[k + 1] == "]":
                raise ReaderError(
                    "a ] without [", source=ctx.name, line=line, hint="open the list with ["
                )
            out.append(Punct(tokens[k + 1]))
            k += 2
            continue
        out.append(tok)
        k += 1
    return out


def is_brace_form(text: str) -> bool:
    """Whether the text is the brace form (its first setting opens a ``{`` block)."""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#") or _HEADER.match(line):
            continue
        return not line.startswith("set ") and "{" in line
    return False


def set_statements(text: str, ctx: ReadContext) -> list[Statement]:
    out: list[Statement] = []
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#") or _HEADER.match(line):
            continue
        items = _items(_tokens(line, n, ctx), ctx, n)
        if any(isinstance(i, Punct) for i in items):
            raise ReaderError(
                "a { } or ; in a set command",
                source=ctx.name,
                line=n,
                hint="give either the set form or the brace form of the configuration, not both",
            )
        words = items
        if words[0] != "set":
            what = words[0] if isinstance(words[0], str) else "[ list ]"
            raise ReaderError(
                f"{what!r} is not a set command",
                source=ctx.name,
                line=n,
                hint="give a saved configuration (show config running, in the set or XML "
                "format); apply changes such as move or delete on the device and export again",
            )
        if len(words) > 1:
            out.append(Statement(tuple(words[1:]), n))
    return out


def brace_statements(text: str, ctx: ReadContext) -> list[Statement]:
    """The leaves of the brace form as statements (``a { b { c d; } }`` is ``a b c d``); a
    block that holds nothing is a statement of its own (an empty group, a rule without
    settings)."""
    out: list[Statement] = []
    stack: list[tuple[tuple[Item, ...], int, list[int]]] = []
    pending: list[Item] = []
    first_line = 0
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#") or _HEADER.match(line):
            continue
        for item in _items(_tokens(line, n, ctx), ctx, n):
            if not isinstance(item, Punct):
                if not pending:
                    first_line = n
                pending.append(item)
            elif item == "{":
                words = tuple(stack[-1][0] if stack else ()) + tuple(pending)
                stack.append((words, n, [len(out)]))
                pending = []
            elif item == ";":
                if pending:
                    base = stack[-1][0] if stack else ()
                    out.append(Statement(tuple(base) + tuple(pending), first_line))
                pending = []
            elif item == "}":
                if pending or not stack:
                    raise ReaderError(
                        "a } where none is open" if not stack else "a setting without ;",
                        source=ctx.name,
                        line=n,
                        hint="give the whole configuration as the CLI prints it",
                    )
                words, at, start = stack.pop()
                if len(out) == start[0]:
                    out.append(Statement(words, at))
    if stack or pending:
        raise ReaderError(
            "the configuration ends inside a block",
            source=ctx.name,
            line=stack[-1][1] if stack else first_line,
            hint="the file is cut short; export the whole configuration again",
        )
    return out
