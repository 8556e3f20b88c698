"""``nft -j list ruleset`` JSON [libnftables-json(5)] into a :class:`Ruleset`: the output of
``nft -j list ruleset`` and ``add``/``insert``/``flush`` command objects. nft 1.0 writes an
anonymous chain (``jump { ... }``) in JSON as its text, which is read with the text parser."""

from __future__ import annotations

import json
import re
from typing import Any

from auditor.allowlists.base import ReaderError
from auditor.allowlists.nftables.ast import (
    _NAT,
    AnonSet,
    Bits,
    Cat,
    Chain,
    Concat,
    Elem,
    Expr,
    Item,
    Masking,
    Match,
    Maybe,
    NamedSet,
    NotUnderstood,
    Opaque,
    Pfx,
    Ref,
    Rng,
    Rule,
    Ruleset,
    Sel,
    Table,
    Val,
    Value,
    Verdict,
    VMap,
    _Problem,
)
from auditor.allowlists.nftables.render import _render_rule
from auditor.allowlists.nftables.text_parser import MAX_DEPTH, _TextParser
from auditor.jsonutil import StrictJsonError, loads_strict


class _JsonParser:
    """``nft -j list ruleset`` [libnftables-json(5)] into a :class:`Ruleset`."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.rs = Ruleset()

    def error(self, line: int | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line, hint=hint)

    def note(self, line: int | None, path: str, message: str) -> None:
        where = f"{self.name}:{line}" if line else self.name
        self.rs.unsupported.append(f"{where} ({path}): {message}")

    def items(self) -> list[tuple[Any, int | None]]:
        """The objects of the ``nftables`` array, with the line each starts on when the JSON is
        spread over lines (``nft -j`` writes one line; pretty-printed files have many)."""
        try:
            doc = loads_strict(self.text)
        except StrictJsonError as e:
            raise self.error(
                e.line, f"invalid JSON: {e.message}", hint="give nft -j output"
            ) from None
        path = _too_deep(doc)
        if path is not None:
            raise self.error(
                None,
                f"{path}: arrays and objects nested more than {MAX_DEPTH} levels deep",
                hint="nft -j output nests about a dozen levels; is this the right file?",
            )
        if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
            raise self.error(
                1,
                'this is not nft JSON (no "nftables" array at the top)',
                hint="give the output of nft -j list ruleset",
            )
        objects: list[Any] = doc["nftables"]
        lines: list[int | None] = [None] * len(objects)
        if "\n" in self.text.strip():
            m = re.match(r'\s*\{\s*"nftables"\s*:\s*\[', self.text)
            if m is not None:
                dec = json.JSONDecoder()
                pos = m.end()
                line, counted = 1, 0
                for k in range(len(objects)):
                    while pos < len(self.text) and self.text[pos] in " \t\r\n,":
                        pos += 1
                    line += self.text.count("\n", counted, pos)
                    counted = pos
                    lines[k] = line
                    _, pos = dec.raw_decode(self.text, pos)
        return list(zip(objects, lines, strict=True))

    def parse(self) -> Ruleset:
        for index, (obj, line) in enumerate(self.items()):
            path = f"nftables[{index}]"
            if not isinstance(obj, dict) or len(obj) != 1:
                raise self.error(line, f"{path}: each item is an object with one key")
            ((kind, body),) = obj.items()
            if kind == "metainfo":
                continue
            if kind in ("add", "create", "insert"):
                if not isinstance(body, dict) or len(body) != 1:
                    raise self.error(line, f"{path}: {kind} needs one object")
                ((kind2, body2),) = body.items()
                self.object(kind2, body2, line, path, insert=kind == "insert")
            elif kind == "flush":
                self.flush(body, line, path)
            elif kind in ("delete", "destroy"):
                self.delete(body, line, path)
            else:
                self.object(kind, body, line, path, insert=False)
        return self.rs

    def need(self, body: Any, key: str, line: int | None, path: str) -> Any:
        if not isinstance(body, dict) or key not in body:
            raise self.error(line, f"{path}: {key!r} is missing")
        return body[key]

    def table_of(self, body: Any, line: int | None, path: str) -> Table:
        family = self.need(body, "family", line, path)
        name = self.need(body, "table", line, path)
        table = self.rs.tables.get((family, name))
        if table is None:
            raise self.error(line, f"{path}: table {family} {name} is not declared before use")
        return table

    def object(self, kind: str, body: Any, line: int | None, path: str, insert: bool) -> None:
        if kind == "table":
            table = self.rs.table(
                self.need(body, "family", line, path), self.need(body, "name", line, path), line
            )
            flags = body.get("flags", [])
            if "dormant" in (flags if isinstance(flags, list) else [flags]):
                table.dormant = True
        elif kind == "chain":
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            chain = table.chains.setdefault(name, Chain(name, line, path))
            if "hook" in body:
                chain.hook = body["hook"]
                chain.type = body.get("type")
                prio = body.get("prio", 0)
                if type(prio) is not int:
                    raise self.error(line, f"{path}: prio {json.dumps(prio)[:40]} is not a number")
                chain.priority = prio
                chain.policy = body.get("policy", "accept")
                dev = body.get("dev", ())
                chain.devices = (dev,) if isinstance(dev, str) else tuple(dev)
        elif kind == "rule":
            table = self.table_of(body, line, path)
            cname = self.need(body, "chain", line, path)
            target = table.chains.get(cname)
            if target is None:
                raise self.error(line, f"{path}: chain {cname} is not declared before its rules")
            exprs = self.need(body, "expr", line, path)
            if not isinstance(exprs, list):
                raise self.error(line, f"{path}: expr is not a list")
            items = [
                self.statement(s, table, target, line, f"{path}.expr[{k}]")
                for k, s in enumerate(exprs)
            ]
            rule = Rule([i for i in items if i is not None], line, _render_rule(items), path)
            target.rules.insert(0 if insert else len(target.rules), rule)
        elif kind in ("set", "map"):
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            type_ = body.get("type", "")
            type_text = " . ".join(type_) if isinstance(type_, list) else str(type_)
            if kind == "map":
                type_text += f" : {body.get('map', '')}"
            flags = body.get("flags", [])
            nset = table.sets.setdefault(name, NamedSet(name, kind, line=line))
            nset.type = type_text
            nset.flags = frozenset(flags if isinstance(flags, list) else [flags])
            nset.elems.extend(self.elems(body, line, path))
        elif kind == "element":
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            into = table.sets.get(name)
            if into is None:
                raise self.error(line, f"{path}: set {name} is not declared")
            into.elems.extend(self.elems(body, line, path))
        elif kind in ("flowtable", "counter", "quota", "ct helper", "ct timeout",
                      "ct expectation", "limit", "secmark", "synproxy"):  # fmt: skip
            return
        else:
            self.note(line, path, f"{kind!r} objects are not understood")

    def flush(self, body: Any, line: int | None, path: str) -> None:
        if isinstance(body, dict) and "ruleset" in body:
            self.rs.tables.clear()
        elif isinstance(body, dict) and "table" in body:
            t = body["table"]
            table = self.rs.tables.get((t.get("family", "ip"), t.get("name")))
            for chain in table.chains.values() if table else ():
                chain.rules.clear()
        elif isinstance(body, dict) and "chain" in body:
            c = body["chain"]
            table = self.rs.tables.get((c.get("family", "ip"), c.get("table")))
            found = table.chains.get(c.get("name")) if table else None
            if found is not None:
                found.rules.clear()
        else:
            self.note(line, path, "this flush is not applied")

    def delete(self, body: Any, line: int | None, path: str) -> None:
        if isinstance(body, dict) and "table" in body:
            t = body["table"]
            self.rs.tables.pop((t.get("family", "ip"), t.get("name")), None)
        else:
            self.note(line, path, "only whole tables are deleted here")

    def elems(self, body: Any, line: int | None, path: str) -> list[Elem]:
        return [self.elem(e, line, path, k) for k, e in enumerate(body.get("elem", []))]

    def elem(self, e: Any, line: int | None, path: str, index: int) -> Elem:
        where = f"{path}.elem[{index}]"
        try:
            if isinstance(e, list) and len(e) == 2:
                return Elem(_jvalue(e[0]), _jdata(e[1]), line, where)
            return Elem(_jvalue(e), None, line, where)
        except (_Problem, *_MALFORMED) as p:
            shown = json.dumps(e)[:60]
            raise self.error(line, f"{path}: cannot read the element {shown}: {p}") from None

    def statement(
        self, s: Any, table: Table, chain: Chain, line: int | None, path: str
    ) -> Item | None:
        if isinstance(s, str):
            # nft 1.0 writes an anonymous chain as its text: "jump {\n ip saddr ... accept\n }"
            m = re.fullmatch(r"\s*(jump|goto)\s*\{(.*)\}\s*", s, re.S)
            if m:
                sub = _TextParser(m.group(2), self.name, self.rs, (line or 1) - 1)
                body = sub.expand(sub.lex())
                return Verdict(m.group(1), sub.anon_chain(table, chain, body))
            self.note(line, path, f"{s[:60]!r} not understood")
            return NotUnderstood(s[:60])
        if not isinstance(s, dict) or len(s) != 1:
            raise self.error(line, f"{path}: a statement is an object with one key")
        ((kind, body),) = s.items()
        try:
            return self.statement_of(kind, body, table)
        except (_Problem, *_MALFORMED) as p:
            self.note(line, path, f"{kind} {json.dumps(body)[:60]} not understood ({p})")
            return NotUnderstood(f"{kind} {p}")

    def statement_of(self, kind: str, body: Any, table: Table) -> Item | None:
        if kind == "match":
            if not isinstance(body, dict):
                raise _Problem("match is not an object")
            return Match(_jexpr(body.get("left")), body.get("op", "=="), _jvalue(body.get("right")))
        if kind in ("accept", "drop", "continue", "return"):
            return Verdict(kind)
        if kind == "reject":
            return Verdict("reject")
        if kind in ("jump", "goto"):
            if not isinstance(body, dict) or not isinstance(body.get("target"), str):
                raise _Problem(f"{kind} needs a target")
            return Verdict(kind, body["target"])
        if kind == "queue":
            return Opaque("queue: a user-space program gives the verdict")
        if kind in _NAT:
            return Opaque(f"{kind}: the connection is translated")
        if kind in ("fwd", "synproxy"):
            return Opaque(f"{kind}: the packet is handed on")
        if kind == "notrack":
            return Opaque("notrack: later ct state matches see an untracked packet")
        if kind in ("counter", "log", "mangle", "flow", "dup", "last", "ct helper", "ct timeout",
                    "ct expectation", "secmark", "comment"):  # fmt: skip
            return None
        if kind == "limit":
            return Maybe("a rate limit")
        if kind == "quota":
            return Maybe("a quota")
        if kind == "ct count":
            return Maybe("the number of connections (ct count)")
        if kind == "meter":
            return Maybe("a meter (per-key rate limit)")
        if kind == "set":
            stmts = body.get("stmt", []) if isinstance(body, dict) else []
            target = body.get("set", "") if isinstance(body, dict) else ""
            if isinstance(target, str) and target.startswith("@"):
                self.rs.dynamic.add((table.family, table.name, target[1:]))
            if any(isinstance(x, dict) and set(x) & {"limit", "quota", "ct count"} for x in stmts):
                return Maybe("a per-source limit kept in a set")
            return None
        if kind == "vmap":
            if not isinstance(body, dict):
                raise _Problem("vmap is not an object")
            return VMap(_jexpr(body.get("key")), _jvalue(body.get("data")))
        if kind == "xt":
            raise _Problem("xt (an iptables extension, shown by iptables-nft) is not evaluated")
        raise _Problem("unknown statement")


def _join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _too_deep(doc: Any) -> str | None:
    """The JSON path of a value nested deeper than MAX_DEPTH, walked without recursion (the
    readers below descend recursively)."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path if len(path) <= 80 else path[:77] + "..."
        if isinstance(value, dict):
            stack.extend((v, _join_path(path, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


_MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)
"""What reading a JSON object of an unexpected shape raises (a missing key, a wrong type)."""


def _jexpr(x: Any) -> Expr:
    if isinstance(x, str | int) and not isinstance(x, bool):
        return Sel(f"literal {x}")
    if not isinstance(x, dict) or len(x) != 1:
        raise _Problem(f"{json.dumps(x)[:40]} is not an expression")
    ((k, v),) = x.items()
    if k == "payload":
        if "protocol" in v:
            return Sel(f"{v['protocol']} {v['field']}")
        return Sel("raw")
    if k == "meta":
        return Sel(f"meta {v['key']}")
    if k == "ct":
        if "dir" in v:
            fam = f"{v['family']} " if "family" in v else ""
            return Sel(f"ct {v['dir']} {fam}{v['key']}")
        return Sel(f"ct {v['key']}")
    if k == "fib":
        flags = v.get("flags", [])
        flags = [flags] if isinstance(flags, str) else flags
        return Sel(f"fib {'.'.join(flags)} {v.get('result')}")
    if k == "concat":
        return Concat(tuple(_jexpr(p) for p in v))
    if k in ("&", "|", "^", "<<", ">>"):
        return Masking(_jexpr(v[0]), k, _jvalue(v[1]))
    if k in ("exthdr", "tcp option", "ip option", "sctp chunk", "dccp option"):
        return Sel(f"{k} {v.get('name', '')} {v.get('field', '')}".strip())
    if k == "rt":
        return Sel(f"rt {v.get('key')}")
    if k in ("socket", "osf", "ipsec", "numgen", "jhash", "symhash"):
        return Sel(k if k not in ("socket",) else f"socket {v.get('key')}")
    raise _Problem(f"{k!r} expressions")


def _jvalue(x: Any) -> Value:
    if isinstance(x, bool):
        raise _Problem(f"{x!r} is not a value")
    if isinstance(x, str):
        return Ref(x[1:]) if x.startswith("@") else Val(x)
    if isinstance(x, int):
        return Val(str(x))
    if isinstance(x, list):
        return Bits(tuple(_jvalue(i) for i in x))
    if isinstance(x, dict) and len(x) == 1:
        ((k, v),) = x.items()
        if k == "set":
            items = v if isinstance(v, list) else [v]
            elems = []
            for e in items:
                if isinstance(e, list) and len(e) == 2:
                    elems.append(Elem(_jvalue(e[0]), _jdata(e[1])))
                else:
                    elems.append(Elem(_jvalue(e)))
            return AnonSet(tuple(elems))
        if k == "range":
            return Rng(_jvalue(v[0]), _jvalue(v[1]))
        if k == "prefix":
            length = v["len"]
            if type(length) is not int or length < 0:
                raise _Problem(f"{json.dumps(length)[:20]} is not a prefix length")
            return Pfx(str(v["addr"]), length)
        if k == "concat":
            return Cat(tuple(_jvalue(p) for p in v))
        if k == "|":
            return Bits(tuple(_jvalue(p) for p in v))
        if k == "elem":
            return _jvalue(v["val"])
    raise _Problem(f"{json.dumps(x)[:40]} is not a value the reader knows")


def _jdata(x: Any) -> Value | Verdict:
    if isinstance(x, dict) and len(x) == 1:
        ((k, v),) = x.items()
        if k in ("accept", "drop", "continue", "return"):
            return Verdict(k)
        if k == "reject":
            return Verdict("reject")
        if k in ("jump", "goto"):
            return Verdict(k, v["target"])
    return _jvalue(x)
