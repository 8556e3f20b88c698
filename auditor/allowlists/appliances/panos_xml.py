"""PAN-OS configurations as XML (``show config running`` in the XML format, a saved
``running-config.xml``, Panorama's configuration, or an XML API ``<response>`` holding one)
made into :class:`~auditor.allowlists.appliances.panos_set.Statement` s: ``<entry
name="N">`` is the word ``N``, an element's tag is a word, its text the last word, and
``<member>`` children a list (``<source><member>a</member></source>`` is ``source [ a ]``).

The XML is parsed with the standard library's expat, which resolves no external entity;
document type and entity declarations are refused (an export has none, and refusing them
rules out entity expansion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from auditor.allowlists.appliances.panos_set import Item, Statement
from auditor.allowlists.base import ReadContext, ReaderError


@dataclass
class _Node:
    tag: str
    name: str | None
    line: int
    text: list[str] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _refusal(ctx: ReadContext, line: int, what: str) -> ReaderError:
    return ReaderError(
        f"the XML has a {what} declaration, which is refused (entity expansion)",
        source=ctx.name,
        line=line,
        hint="a PAN-OS configuration has no DOCTYPE or ENTITY declarations; remove them",
    )


def _parse(data: bytes, ctx: ReadContext) -> _Node:
    m = _DECLARATION.search(data)
    if m:
        raise _refusal(ctx, data[: m.start()].count(b"\n") + 1, m.group(1).decode().upper())
    parser = expat.ParserCreate()
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = _Node(tag, attrib.get("name"), parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    def doctype(*_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, "DOCTYPE")

    def entity(*_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, "ENTITY")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise _refusal(ctx, e.line, e.what) from None
    except expat.ExpatError as e:
        raise ReaderError(
            f"not well-formed XML: {expat.ErrorString(e.code)} (column {e.offset + 1})",
            source=ctx.name,
            line=e.lineno,
            hint="export the configuration again (show config running, or Device > Setup > "
            "Operations > Export named configuration snapshot)",
        ) from None
    return roots[0]


def _step(node: _Node) -> str:
    if node.name is not None:
        quoted = node.name.replace("'", "&apos;")
        return f"{node.tag}[@name='{quoted}']"
    return node.tag


def xml_statements(data: bytes, ctx: ReadContext) -> list[Statement]:
    root = _parse(data, ctx)
    path = "/" + root.tag
    if root.tag == "response":
        # an XML API answer: <response status="success"><result><config>...
        result = next((c for c in root.children if c.tag == "result"), None)
        found = next((c for c in result.children if c.tag == "config"), None) if result else None
        if found is None:
            raise ReaderError(
                "the XML API response holds no <config>",
                source=ctx.name,
                line=root.line,
                hint="save the answer of type=config&action=show (or export the running "
                "configuration)",
            )
        root = found
        path += "/result/config"
    if root.tag != "config":
        raise ReaderError(
            f"the root element is <{root.tag}>, not a PAN-OS <config>",
            source=ctx.name,
            line=root.line,
            hint="give the PAN-OS configuration XML (show config running)",
        )
    out: list[Statement] = []
    _walk(root, (), path, out)
    return out


def _walk(node: _Node, words: tuple[Item, ...], path: str, out: list[Statement]) -> None:
    members = [c for c in node.children if c.tag == "member"]
    if members:
        value = tuple("".join(m.text).strip() for m in members)
        out.append(Statement((*words, value), members[0].line, path))
        others = [c for c in node.children if c.tag != "member"]
    else:
        others = node.children
    if not node.children:
        text = "".join(node.text).strip()
        out.append(Statement((*words, text) if text else words, node.line, path))
        return
    for child in others:
        step = path + "/" + _step(child)
        if child.tag == "entry" and child.name is not None:
            out.append(Statement((*words, child.name), child.line, step))
            if child.children:
                _walk(child, (*words, child.name), step, out)
        else:
            _walk(child, (*words, child.tag), step, out)
