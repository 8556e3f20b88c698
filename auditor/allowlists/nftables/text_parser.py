"""``nft list ruleset`` text and files for ``nft -f`` into a :class:`Ruleset`.

A file for ``nft -f`` is read in order: ``define``/``$name``, ``flush ruleset``, ``table``/``chain``
blocks, ``add``/``insert``/``create`` commands, ``add element``, ``flush``/``delete`` of tables and
chains. ``include`` is not followed (the ruleset records it; the result is partial). Each rule's
statements are read by :mod:`auditor.allowlists.nftables.rule_parser`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from auditor.allowlists.base import ReaderError
from auditor.allowlists.nftables.ast import (
    AnonSet,
    Bits,
    Cat,
    Chain,
    Elem,
    Masked,
    NamedSet,
    Ref,
    Rng,
    Rule,
    Ruleset,
    Table,
    Val,
    Value,
    Verdict,
)
from auditor.allowlists.nftables.rule_parser import _RuleParser
from auditor.allowlists.nftables.tokens import Tok, _closing, _Cursor, _render_toks

FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})

# Standard priority names [nft(8), CHAINS, table "Standard priority names"].
_PRIORITY = {
    "raw": -300,
    "mangle": -150,
    "dstnat": -100,
    "filter": 0,
    "security": 50,
    "srcnat": 100,
}
_BRIDGE_PRIORITY = {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300}


MAX_DEPTH = 64
"""How deep ``{``/``(`` (text) or arrays and objects (JSON) may nest: a ruleset nests a few
levels (nft -j output about a dozen); deeper input is refused as it is read, before the
recursive descent, which would take time in proportion to the depth times the length."""

_LEX = re.compile(
    r"""
    (?P<nl>\n|;)
  | (?P<skip>[ \t\r\f\v]+|\\\r?\n)
  | (?P<comment>\#[^\n]*)
  | (?P<str>"[^"\n]*")
  | (?P<op>==|!=|<=|>=|<<|>>|[{}(),=<>&|^!])
  | (?P<word>[^\s{}();,="<>&|^!\#\\]+)
    """,
    re.X,
)
_VERDICT_WORDS = frozenset({"accept", "drop", "reject", "return", "continue", "jump", "goto"})
_ELEM_OPTIONS = frozenset({"timeout", "expires", "comment", "counter"})


class _TextParser:
    """``nft list ruleset`` output and files for ``nft -f`` into a :class:`Ruleset`."""

    def __init__(
        self, text: str, name: str, rs: Ruleset | None = None, line_offset: int = 0
    ) -> None:
        self.text = text
        self.name = name
        self.rs = rs if rs is not None else Ruleset()
        self.line_offset = line_offset
        self.defines: dict[str, list[Tok]] = {}

    def error(self, line: int | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line, hint=hint)

    def note(self, line: int | None, message: str) -> None:
        where = f"{self.name}:{line}" if line else self.name
        self.rs.unsupported.append(f"{where}: {message}")

    # lexing and macros

    def lex(self) -> list[Tok]:
        out: list[Tok] = []
        line = 1 + self.line_offset
        pos = 0
        text = self.text
        depth = 0  # of { and (, capped here: the parser descends once per level
        while pos < len(text):
            m = _LEX.match(text, pos)
            if m is None:
                ch = text[pos]
                if ch == '"':
                    raise self.error(line, "unterminated string", hint='close it with "')
                raise self.error(line, f"unexpected character {ch!r}")
            kind = m.lastgroup
            value = m.group()
            if kind == "nl":
                out.append(Tok("nl", value, line))
            elif kind == "str":
                out.append(Tok("str", value[1:-1], line))
            elif kind == "op":
                out.append(Tok("op", value, line))
                if value in "{(":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise self.error(
                            line,
                            f"'{{' and '(' nested more than {MAX_DEPTH} levels deep",
                            hint="a ruleset nests a few levels: table, chain, set, anonymous "
                            "chain; is this the right file?",
                        )
                elif value in "})":
                    depth -= 1
            elif kind == "word":
                # a map separator written against its key: `22: accept`, `"eth0": jump x`
                if value.endswith(":") and value.count(":") == 1 and len(value) > 1:
                    out.append(Tok("word", value[:-1], line))
                    out.append(Tok("word", ":", line))
                else:
                    out.append(Tok("word", value, line))
            line += value.count("\n")
            pos = m.end()
        return out

    def expand(self, toks: list[Tok]) -> list[Tok]:
        """``define name = value`` and ``$name`` [nft(8), VARIABLES], in file order."""
        out: list[Tok] = []
        i = 0
        at_start = True
        while i < len(toks):
            t = toks[i]
            if at_start and t.kind == "word" and t.text in ("define", "redefine", "undefine"):
                j = i + 1
                if j >= len(toks) or toks[j].kind != "word":
                    raise self.error(t.line, f"{t.text} needs a name")
                name = toks[j].text
                if t.text == "undefine":
                    self.defines.pop(name, None)
                    i = j + 1
                    continue
                if j + 1 >= len(toks) or toks[j + 1].text != "=":
                    raise self.error(t.line, f"define {name} needs '= value'")
                k = j + 2
                depth = 0
                value: list[Tok] = []
                while k < len(toks) and not (toks[k].kind == "nl" and depth == 0):
                    if toks[k].kind == "op" and toks[k].text in "{(":
                        depth += 1
                    elif toks[k].kind == "op" and toks[k].text in "})":
                        depth -= 1
                    value.append(toks[k])
                    k += 1
                if not value:
                    raise self.error(t.line, f"define {name} has no value")
                self.defines[name] = self.expand_refs(value)
                i = k
                continue
            if t.kind == "word" and t.text.startswith("$"):
                out.extend(self.expand_refs([t]))
            else:
                out.append(t)
            at_start = t.kind == "nl" or (t.kind == "op" and t.text in "{}")
            i += 1
        return out

    def expand_refs(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        for t in toks:
            if t.kind == "word" and t.text.startswith("$"):
                name = t.text[1:]
                if name not in self.defines:
                    raise self.error(
                        t.line, f"${name} is not defined", hint="define it before its first use"
                    )
                out.extend(Tok(d.kind, d.text, t.line) for d in self.defines[name])
            else:
                out.append(t)
        return out

    def statements(
        self, toks: Sequence[Tok], blocks: frozenset[str] = frozenset()
    ) -> Iterator[list[Tok]]:
        """Statements at depth 0: ended by a newline or ``;``, or by the ``}`` closing a block
        statement (``table x { ... }``) when it starts with one of ``blocks``."""
        cur: list[Tok] = []
        depth = 0
        opened: list[int] = []
        for t in toks:
            if t.kind == "nl" and depth == 0:
                if cur:
                    yield cur
                    cur = []
                continue
            if t.kind == "op" and t.text in "{(":
                depth += 1
                opened.append(t.line)
            elif t.kind == "op" and t.text in "})":
                depth -= 1
                if depth < 0:
                    raise self.error(t.line, f"unbalanced {t.text!r}")
                opened.pop()
            cur.append(t)
            if depth == 0 and t.text == "}" and t.kind == "op" and cur[0].text in blocks:
                yield cur
                cur = []
        if depth > 0:
            raise self.error(opened[-1], "a '{' or '(' opened here is never closed")
        if cur:
            yield cur

    # top level

    def parse(self) -> Ruleset:
        toks = self.expand(self.lex())
        top_blocks = frozenset({"table", "chain", "set", "map"})
        for st in self.statements(toks, top_blocks):
            self.top(st)
        return self.rs

    def top(self, st: list[Tok]) -> None:
        head = st[0]
        word = head.text if head.kind == "word" else ""
        if word in ("add", "create"):
            self.command(st[1:], head.line, insert=False)
        elif word == "insert":
            self.command(st[1:], head.line, insert=True)
        elif word in ("table", "chain", "rule", "set", "map", "element"):
            self.command(st, head.line, insert=False)
        elif word == "flush":
            self.flush(st, head.line)
        elif word in ("delete", "destroy"):
            self.delete(st, head.line)
        elif word == "include":
            target = st[1].text if len(st) > 1 else ""
            self.rs.includes.append(f'{self.name}:{head.line}: include "{target}"')
            self.note(head.line, f'include "{target}" is not followed')
        elif word in ("flowtable", "counter", "quota", "limit", "ct", "secmark", "synproxy"):
            return  # stateful objects: they decide nothing by themselves
        elif word in ("list", "reset", "monitor", "describe", "export", "import", "rename"):
            self.note(head.line, f"command {word!r} changes nothing here and is skipped")
        else:
            self.note(head.line, f"{_render_toks(st)[:80]!r} not understood")

    def family_name(self, toks: Sequence[Tok], i: int, line: int) -> tuple[str, str, int]:
        """``[family] name`` at ``toks[i]``; the family defaults to ip [nft(8), TABLES]."""
        if i >= len(toks):
            raise self.error(line, "a table name is missing")
        first = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if first.text in FAMILIES and nxt is not None and nxt.kind in ("word", "str"):
            return first.text, nxt.text, i + 2
        return "ip", first.text, i + 1

    def rule_target(self, toks: Sequence[Tok], i: int, line: int) -> tuple[str, str, int]:
        """``[family] table`` for rules and elements: a family word counts as one only when it
        names a table that way (``add rule ip filter input``, ``add rule filter input``)."""
        if i + 1 < len(toks) and toks[i].text in FAMILIES:
            if (toks[i].text, toks[i + 1].text) in self.rs.tables or (
                ("ip", toks[i].text) not in self.rs.tables
            ):
                return toks[i].text, toks[i + 1].text, i + 2
        return self.family_name(toks, i, line)

    def get_table(self, family: str, name: str, line: int) -> Table:
        table = self.rs.tables.get((family, name))
        if table is None:
            raise self.error(
                line,
                f"table {family} {name} does not exist",
                hint="declare the table before adding chains, sets or rules to it",
            )
        return table

    def command(self, st: list[Tok], line: int, insert: bool) -> None:
        if not st:
            raise self.error(line, "a command needs an object (table, chain, rule, set, ...)")
        what = st[0].text
        if what == "table":
            family, name, i = self.family_name(st, 1, line)
            table = self.rs.table(family, name, line)
            if i < len(st) and st[i].text == "{":
                self.table_body(table, self.inner(st, i))
        elif what == "chain":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, "a chain name is missing")
            chain = self.chain_of(table, st[i].text, line)
            if i + 1 < len(st) and st[i + 1].text == "{":
                self.chain_body(table, chain, self.inner(st, i + 1))
        elif what == "rule":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, "a chain name is missing")
            cname = st[i].text
            target = table.chains.get(cname)
            if target is None:
                raise self.error(line, f"chain {cname} does not exist in table {table.label}")
            i += 1
            index: int | None = None
            if i + 1 < len(st) and st[i].text in ("index", "position", "handle"):
                if st[i].text == "index" and re.fullmatch(r"[0-9]{1,9}", st[i + 1].text):
                    index = int(st[i + 1].text) + (0 if insert else 1)
                else:
                    self.note(line, f"{st[i].text} {st[i + 1].text}: position taken as the end")
                i += 2
            if i >= len(st):
                raise self.error(line, "a rule needs at least one statement")
            rule = self.rule(table, target, st[i:])
            if index is None:
                index = 0 if insert else len(target.rules)
            target.rules.insert(index, rule)
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, f"a {what} name is missing")
            nset = table.sets.setdefault(st[i].text, NamedSet(st[i].text, what, line=line))
            if i + 1 < len(st) and st[i + 1].text == "{":
                self.set_body(nset, self.inner(st, i + 1))
        elif what == "element":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i + 1 >= len(st) or st[i + 1].text != "{":
                raise self.error(line, "add element needs a set name and { elements }")
            into = table.sets.get(st[i].text)
            if into is None:
                raise self.error(line, f"set {st[i].text} does not exist in {table.label}")
            into.elems.extend(self.elements(st[i + 1 :]))
        elif what in ("flowtable", "counter", "quota", "limit", "ct", "secmark", "synproxy"):
            return
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} not understood")

    def flush(self, st: list[Tok], line: int) -> None:
        what = st[1].text if len(st) > 1 else ""
        if what == "ruleset":
            family = st[2].text if len(st) > 2 else None
            for key in [k for k in self.rs.tables if family is None or k[0] == family]:
                del self.rs.tables[key]
        elif what == "table":
            family, name, _ = self.family_name(st, 2, line)
            table = self.rs.tables.get((family, name))
            for chain in table.chains.values() if table else ():
                chain.rules.clear()
        elif what == "chain":
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            found = table.chains.get(st[i].text) if table and i < len(st) else None
            if found is not None:
                found.rules.clear()
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            nset = table.sets.get(st[i].text) if table and i < len(st) else None
            if nset is not None:
                nset.elems.clear()
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} not understood")

    def delete(self, st: list[Tok], line: int) -> None:
        what = st[1].text if len(st) > 1 else ""
        if what == "table":
            family, name, _ = self.family_name(st, 2, line)
            self.rs.tables.pop((family, name), None)
        elif what == "chain":
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            if table and i < len(st):
                table.chains.pop(st[i].text, None)
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            if table and i < len(st):
                table.sets.pop(st[i].text, None)
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} is not applied (only whole tables,"
                      " chains and sets are deleted here)")  # fmt: skip

    def inner(self, st: Sequence[Tok], i: int) -> list[Tok]:
        """The tokens inside the braces opening at ``st[i]``."""
        end = _closing(st, i)
        if end is None:
            raise self.error(st[i].line, "a '{' opened here is never closed")
        return list(st[i + 1 : end])

    def chain_of(self, table: Table, name: str, line: int | None) -> Chain:
        if name not in table.chains:
            table.chains[name] = Chain(name, line)
        return table.chains[name]

    # blocks

    def table_body(self, table: Table, toks: list[Tok]) -> None:
        blocks = frozenset({"chain", "set", "map", "flowtable", "counter", "quota", "limit",
                            "ct", "secmark", "synproxy"})  # fmt: skip
        for st in self.statements(toks, blocks):
            head = st[0].text
            line = st[0].line
            if head == "chain" and len(st) >= 2:
                chain = self.chain_of(table, st[1].text, line)
                if chain.line is None:
                    chain.line = line
                if len(st) > 2 and st[2].text == "{":
                    self.chain_body(table, chain, self.inner(st, 2))
            elif head in ("set", "map") and len(st) >= 2:
                nset = table.sets.setdefault(st[1].text, NamedSet(st[1].text, head, line=line))
                if len(st) > 2 and st[2].text == "{":
                    self.set_body(nset, self.inner(st, 2))
            elif head == "flags":
                if "dormant" in (t.text for t in st[1:]):
                    table.dormant = True
            elif head in ("comment", "flowtable", "counter", "quota", "limit", "ct", "secmark",
                          "synproxy"):  # fmt: skip
                continue
            else:
                self.note(line, f"{_render_toks(st)[:80]!r} in table {table.label} not understood")

    def chain_body(self, table: Table, chain: Chain, toks: list[Tok]) -> None:
        for st in self.statements(toks):
            head = st[0].text if st[0].kind == "word" else ""
            if head == "type":
                self.chain_header(table, chain, st)
            elif head == "policy" and len(st) >= 2:
                chain.policy = st[1].text
            elif head == "comment" and len(st) == 2 and st[1].kind == "str":
                continue
            elif head in ("devices", "device"):
                chain.devices = tuple(t.text for t in st[1:] if t.kind in ("word", "str"))
            elif head == "flags" and len(st) >= 2 and st[1].text == "offload":
                continue
            else:
                chain.rules.append(self.rule(table, chain, st))

    def chain_header(self, table: Table, chain: Chain, st: list[Tok]) -> None:
        """``type filter hook input [device eth0] priority filter + 10`` [nft(8), CHAINS]."""
        words = [t.text for t in st]
        line = st[0].line
        chain.type = words[1] if len(words) > 1 else None
        if "hook" not in words:
            raise self.error(line, "a base chain needs 'hook' in its type line")
        k = words.index("hook")
        if k + 1 >= len(words):
            raise self.error(line, "'hook' needs a hook name")
        chain.hook = words[k + 1]
        if "device" in words:
            d = words.index("device")
            chain.devices = (words[d + 1],) if d + 1 < len(words) else ()
        if "devices" in words:
            d = words.index("devices")
            chain.devices = tuple(w for w in words[d + 1 :] if w not in "={},")
        if "priority" in words:
            p = words.index("priority") + 1
            expr = []
            while p < len(words) and words[p] not in ("device", "devices", "policy"):
                expr.append(words[p])
                p += 1
            chain.priority = self.priority("".join(expr), table.family, line)
        if "policy" in words:
            p = words.index("policy")
            if p + 1 < len(words):
                chain.policy = words[p + 1]

    def priority(self, text: str, family: str, line: int) -> int:
        m = re.fullmatch(r"([a-z]+)?([+-]?[0-9]{1,10})?", text)
        if not text or m is None or (m.group(1) is None and m.group(2) is None):
            raise self.error(line, f"cannot read the priority {text!r}")
        base = 0
        if m.group(1):
            names = _BRIDGE_PRIORITY if family == "bridge" else _PRIORITY
            if m.group(1) not in names:
                raise self.error(line, f"unknown priority name {m.group(1)!r}")
            base = names[m.group(1)]
        return base + int(m.group(2) or 0)

    def set_body(self, nset: NamedSet, toks: list[Tok]) -> None:
        for st in self.statements(toks):
            head = st[0].text
            if head in ("type", "typeof"):
                nset.type = _render_toks(st[1:])
            elif head == "flags":
                nset.flags = nset.flags | {t.text for t in st[1:] if t.kind == "word"}
            elif head == "elements":
                if len(st) < 3 or st[1].text != "=" or st[2].text != "{":
                    raise self.error(st[0].line, "elements needs '= { ... }'")
                nset.elems.extend(self.elements(st[2:]))
            elif head in ("size", "timeout", "gc-interval", "policy", "counter", "comment",
                          "auto-merge"):  # fmt: skip
                continue
            else:
                self.note(
                    st[0].line, f"{_render_toks(st)[:80]!r} in set {nset.name} not understood"
                )

    def elements(self, toks: Sequence[Tok]) -> list[Elem]:
        """``{ a, b/24, c-d, e . f, k : verdict, { nested } }`` (nested sets come from defines
        and are flattened, as nft does)."""
        inner = self.inner(toks, 0)
        out: list[Elem] = []
        piece: list[Tok] = []
        depth = 0
        pieces: list[list[Tok]] = []
        for t in inner:
            if t.kind == "nl":
                continue
            if t.kind == "op" and t.text in "{(":
                depth += 1
            elif t.kind == "op" and t.text in "})":
                depth -= 1
            if t.kind == "op" and t.text == "," and depth == 0:
                pieces.append(piece)
                piece = []
                continue
            piece.append(t)
        if piece:
            pieces.append(piece)
        for p in pieces:
            if p[0].kind == "op" and p[0].text == "{":
                out.extend(self.elements(p))
            else:
                out.append(self.element(p))
        return out

    def element(self, toks: list[Tok]) -> Elem:
        cut = len(toks)
        colon = None
        for k, t in enumerate(toks):
            if t.kind == "word" and t.text == ":" and colon is None:
                colon = k
            if t.kind == "word" and t.text in _ELEM_OPTIONS:
                cut = min(cut, k)
        key_toks = toks[: min(cut, colon if colon is not None else cut)]
        if not key_toks:
            raise self.error(toks[0].line, "an empty set element")
        cur = _Cursor(key_toks)
        key = self.value(cur, commas=False)
        if not cur.done():
            raise self.error(key_toks[0].line, f"cannot read the element {_render_toks(toks)!r}")
        data: Value | Verdict | None = None
        if colon is not None:
            data_toks = [t for t in toks[colon + 1 :] if t.kind != "nl"]
            end = next((k for k, t in enumerate(data_toks) if t.text in _ELEM_OPTIONS), None)
            data_toks = data_toks[:end]
            if not data_toks:
                raise self.error(toks[colon].line, "a map element needs a value after ':'")
            if data_toks[0].text in _VERDICT_WORDS:
                kind = data_toks[0].text
                target = data_toks[1].text if len(data_toks) > 1 else None
                data = Verdict(kind, target if kind in ("jump", "goto") else None)
            else:
                data = self.value(_Cursor(data_toks), commas=False)
        return Elem(key, data, line=key_toks[0].line)

    def value(self, cur: _Cursor, commas: bool, concat: bool = True) -> Value:
        """One right-hand value: literal, ``a-b``, ``{ set }``, ``@set``, ``(a | b)``, flag lists
        ``a,b`` (with ``commas``), concatenations ``a . b`` and masks ``v / m``."""
        if cur.done():
            raise self.error(cur.line, "a value is missing")
        t = cur.next()
        v: Value
        if t.kind == "op" and t.text == "{":
            end = _closing(cur.toks, cur.i - 1)
            if end is None:
                raise self.error(t.line, "a '{' opened here is never closed")
            v = AnonSet(tuple(self.elements(cur.toks[cur.i - 1 : end + 1])))
            cur.i = end + 1
        elif t.kind == "op" and t.text == "(":
            items: list[Value] = []
            while not cur.done() and cur.peek_text() != ")":
                if cur.peek_text() == "|":
                    cur.next()
                    continue
                items.append(self.value(cur, commas=False))
            if cur.done():
                raise self.error(t.line, "a '(' opened here is never closed")
            cur.next()
            v = Bits(tuple(items))
        elif t.kind == "word" and t.text.startswith("@"):
            v = Ref(t.text[1:])
        elif t.kind in ("word", "str"):
            v = Val(t.text, t.kind == "str")
            if cur.peek_text() == "-" and cur.peek(1) is not None:
                cur.next()
                v = Rng(v, Val(cur.next().text))
        else:
            raise self.error(t.line, f"unexpected {t.text!r} where a value belongs")
        if commas and cur.peek_text() == ",":
            items = [v]
            while cur.peek_text() == ",":
                cur.next()
                items.append(self.value(cur, commas=False))
            v = Bits(tuple(items))
        if cur.peek_text() == "|":
            items = [v]
            while cur.peek_text() == "|":
                cur.next()
                items.append(self.value(cur, commas=False))
            v = Bits(tuple(items))
        if cur.peek_text() == "/" and cur.peek(1) is not None:
            cur.next()
            v = Masked(v, self.value(cur, commas=True))
        if concat and cur.peek_text() == ".":
            parts: list[Value] = [v]
            while cur.peek_text() == ".":
                cur.next()
                parts.append(self.value(cur, commas=False, concat=False))
            v = Cat(tuple(parts))
        return v

    # rules

    def rule(self, table: Table, chain: Chain, st: list[Tok]) -> Rule:
        line = st[0].line
        items = _RuleParser(self, table, chain, st).parse()
        return Rule(items, line, _render_toks(st))

    def anon_chain(self, table: Table, parent: Chain, toks: list[Tok]) -> str:
        """``jump { ... }``: a chain of its own without a name [nft(8), "anonymous chains"]."""
        self.rs.anon += 1
        name = f"{parent.name}/anon{self.rs.anon}"
        chain = Chain(name, toks[0].line if toks else None)
        table.chains[name] = chain
        self.chain_body(table, chain, toks)
        return name
