"""Tokens of ``nft list ruleset`` text (and files for ``nft -f``), and a cursor over them for
the recursive descent of the text parsers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple


class Tok(NamedTuple):
    kind: Literal["word", "str", "op", "nl"]
    text: str
    line: int


def _render_toks(toks: Sequence[Tok]) -> str:
    out = ""
    for t in toks:
        s = f'"{t.text}"' if t.kind == "str" else t.text
        if t.kind == "nl":
            if out and out[-1] not in "{,;":
                out += ";"
            continue
        if s == "}" and out.endswith(";"):
            out = out[:-1]
        if not out:
            out = s
        elif s in (",", ")") or s == ";" or out.endswith("("):
            out += s
        else:
            out += " " + s
    return out


class _Cursor:
    """A position in a list of tokens, for recursive descent."""

    def __init__(self, toks: Sequence[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def peek_text(self, k: int = 0) -> str | None:
        t = self.peek(k)
        return None if t is None or t.kind == "str" else t.text

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    @property
    def line(self) -> int:
        t = self.peek() or (self.toks[-1] if self.toks else None)
        return t.line if t else 0


def _closing(toks: Sequence[Tok], i: int) -> int | None:
    depth = 0
    for k in range(i, len(toks)):
        t = toks[k]
        if t.kind == "op" and t.text in "{(":
            depth += 1
        elif t.kind == "op" and t.text in "})":
            depth -= 1
            if depth == 0:
                return k
    return None
