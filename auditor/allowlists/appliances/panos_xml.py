"""PAN-OS configurations as XML (``show config running`` in the XML format, a saved
``running-config.xml``, Panorama's configuration, or an XML API ``<response>`` holding one)
made into :class:`~auditor.allowlists.appliances.panos_set.Statement` s: ``<entry
name="N">`` is the word ``N``, an element's tag is a word, its text the last word, and
``<member>`` children a list (``<source><member>a</member></source>`` is ``source [ a ]``).

The XML is parsed by :mod:`auditor.allowlists.xmltree` (expat; document type and entity
declarations refused).
"""

from __future__ import annotations

from auditor.allowlists import xmltree
from auditor.allowlists.appliances.panos_set import Item, Statement
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.xmltree import Element


def _step(node: Element) -> str:
    name = node.attrib.get("name")
    if name is not None:
        quoted = name.replace("'", "&apos;")
        return f"{node.tag}[@name='{quoted}']"
    return node.tag


def xml_statements(data: bytes, ctx: ReadContext) -> list[Statement]:
    root = xmltree.parse(
        data,
        ctx,
        "a PAN-OS configuration",
        "export the configuration again (show config running, or Device > Setup > "
        "Operations > Export named configuration snapshot)",
    )
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


def _walk(node: Element, words: tuple[Item, ...], path: str, out: list[Statement]) -> None:
    members = [c for c in node.children if c.tag == "member"]
    if members:
        value = tuple(m.text for m in members)
        out.append(Statement((*words, value), members[0].line, path))
        others = [c for c in node.children if c.tag != "member"]
    else:
        others = node.children
    if not node.children:
        text = node.text
        out.append(Statement((*words, text) if text else words, node.line, path))
        return
    for child in others:
        step = path + "/" + _step(child)
        name = child.attrib.get("name") if child.tag == "entry" else None
        if name is not None:
            out.append(Statement((*words, name), child.line, step))
            if child.children:
                _walk(child, (*words, name), step, out)
        else:
            _walk(child, (*words, child.tag), step, out)
