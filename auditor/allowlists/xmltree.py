"""The element tree of an XML export (firewalld zones, PAN-OS and pfSense/OPNsense
configurations), each element with its line, parsed with the standard library's expat.

A document type or entity declaration is refused, before parsing and while parsing: none of
these exports has one, and refusing them rules out entity expansion. expat resolves no
external entity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from auditor.allowlists.base import ReadContext, ReaderError

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass
class Element:
    """An element: its tag, line, attributes, own text (stripped) and children."""

    tag: str
    line: int
    attrib: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find(self, tag: str) -> Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Element]:
        return [c for c in self.children if c.tag == tag]

    def get(self, tag: str) -> str | None:
        """The text of the child ``tag``; None when there is no such child."""
        child = self.find(tag)
        return None if child is None else child.text

    def walk(self, *path: str) -> Element | None:
        node: Element | None = self
        for tag in path:
            node = node.find(tag) if node is not None else None
        return node

    def flag(self, tag: str) -> bool:
        """A flag element: present (``<disabled/>``, ``<quick>yes</quick>``), and not ``0``."""
        child = self.find(tag)
        return child is not None and child.text.lower() not in ("0", "no", "false")


class _Refused(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


def parse(data: bytes, ctx: ReadContext, kind: str, hint: str | None = None) -> Element:
    """The root element of ``data``. ``kind`` names the export in the refusal of a
    declaration (``a firewalld zone file``); ``hint`` says how to get a well-formed one."""

    def refusal(line: int, what: str) -> ReaderError:
        return ReaderError(
            f"the XML has a {what} declaration, which is refused (entity expansion)",
            source=ctx.name,
            line=line,
            hint=f"{kind} has no DOCTYPE or ENTITY declarations; remove them",
        )

    m = _DECLARATION.search(data)
    if m:
        raise refusal(data[: m.start()].count(b"\n") + 1, m.group(1).decode().upper())
    parser = expat.ParserCreate()
    stack: list[Element] = []
    texts: list[list[str]] = []
    roots: list[Element] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = Element(tag, parser.CurrentLineNumber, attrib)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
        texts.append([])

    def end(tag: str) -> None:
        stack.pop().text = "".join(texts.pop()).strip()

    def chars(text: str) -> None:
        if texts:
            texts[-1].append(text)

    def refuse(what: str) -> None:
        raise _Refused(parser.CurrentLineNumber, what)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = lambda *_: refuse("DOCTYPE")
    parser.EntityDeclHandler = lambda *_: refuse("ENTITY")
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise refusal(e.line, e.what) from None
    except expat.ExpatError as e:
        raise ReaderError(
            f"not well-formed XML: {expat.ErrorString(e.code)} (column {e.offset + 1})",
            source=ctx.name,
            line=e.lineno,
            hint=hint,
        ) from None
    return roots[0]
