"""One rule of ``nft list ruleset`` text: its statements and expressions into the items of a
:class:`~auditor.allowlists.nftables.ast.Rule` [nft(8), RULES, EXPRESSIONS, STATEMENTS]."""

from __future__ import annotations

import re
from typing import Protocol

from auditor.allowlists.base import ReaderError
from auditor.allowlists.nftables.ast import (
    _IP6_EXTHDRS,
    _META_BARE,
    _NAT,
    _OTHER_L4,
    AnonSet,
    Chain,
    Concat,
    Expr,
    Item,
    Masking,
    Match,
    Maybe,
    NotUnderstood,
    Opaque,
    Ref,
    Ruleset,
    Sel,
    Table,
    Val,
    Value,
    Verdict,
    VMap,
    _Problem,
)
from auditor.allowlists.nftables.render import _render_expr
from auditor.allowlists.nftables.tokens import Tok, _closing, _Cursor, _render_toks

_SET_STATEMENTS = frozenset({"add", "update", "delete"})
_REL_OPS = {
    "==": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<", ">": ">", "gt": ">",
    "<=": "<=", "le": "<=", ">=": ">=", "ge": ">=", "!": "!=",
}  # fmt: skip
_BIN_OPS = {"&": "&", "and": "&", "|": "|", "or": "|", "^": "^", "xor": "^", "<<": "<<",
            "lshift": "<<", ">>": ">>", "rshift": ">>"}  # fmt: skip
_BITMASK_SELECTORS = frozenset({"ct state", "ct status", "tcp flags", "ct event"})


class _Owner(Protocol):
    """The text parser a rule is read for (``text_parser._TextParser``): its ruleset, its
    messages, values and anonymous chains."""

    rs: Ruleset

    def error(self, line: int | None, message: str, hint: str | None = None) -> ReaderError: ...

    def note(self, line: int | None, message: str) -> None: ...

    def value(self, cur: _Cursor, commas: bool, concat: bool = True) -> Value: ...

    def anon_chain(self, table: Table, parent: Chain, toks: list[Tok]) -> str: ...


class _RuleParser:
    """One rule's statements [nft(8), RULES, EXPRESSIONS, STATEMENTS]."""

    def __init__(self, owner: _Owner, table: Table, chain: Chain, toks: list[Tok]) -> None:
        self.owner = owner
        self.table = table
        self.chain = chain
        self.cur = _Cursor(toks)
        self.line = toks[0].line
        self.items: list[Item] = []

    def parse(self) -> list[Item]:
        cur = self.cur
        while not cur.done():
            t = cur.peek()
            assert t is not None  # noqa: S101 (done() was checked)
            if t.kind != "word":
                self.not_understood(t.text)
                break
            w = t.text
            try:
                if not self.statement(w):
                    break
            except _Problem as e:
                self.not_understood(str(e))
                break
        return self.items

    def not_understood(self, what: str) -> None:
        rest = _render_toks(self.cur.toks[self.cur.i :])
        self.owner.note(self.line, f"{what!r} not understood in {rest[:60]!r}")
        self.items.append(NotUnderstood(what))

    def statement(self, w: str) -> bool:
        """Parse one statement at the cursor; False stops the rule (the rest is swallowed)."""
        cur = self.cur
        if w in ("accept", "drop", "continue", "return"):
            cur.next()
            self.items.append(Verdict(w))
        elif w == "reject":
            cur.next()
            if cur.peek_text() == "with":
                cur.next()
                kind = cur.next().text if not cur.done() else ""
                if kind != "tcp" and cur.peek_text() == "type":
                    cur.next()
                if not cur.done():
                    cur.next()
            self.items.append(Verdict("reject"))
        elif w in ("jump", "goto"):
            cur.next()
            if cur.done():
                raise _Problem(f"{w} needs a chain")
            t = cur.next()
            if t.kind == "op" and t.text == "{":
                end = _closing(cur.toks, cur.i - 1)
                if end is None:
                    raise self.owner.error(t.line, "a '{' opened here is never closed")
                name = self.owner.anon_chain(self.table, self.chain, list(cur.toks[cur.i : end]))
                cur.i = end + 1
                self.items.append(Verdict(w, name))
            else:
                self.items.append(Verdict(w, t.text))
        elif w == "queue":
            self.items.append(Opaque("queue: a user-space program gives the verdict"))
            return False
        elif w in _NAT:
            self.items.append(Opaque(f"{w}: the connection is translated"))
            return False
        elif w in ("fwd", "synproxy"):
            self.items.append(Opaque(f"{w}: the packet is handed on"))
            return False
        elif w == "notrack":
            cur.next()
            self.items.append(Opaque("notrack: later ct state matches see an untracked packet"))
        elif w == "xt":
            self.items.append(NotUnderstood("xt (an iptables extension)"))
            self.owner.note(self.line, "xt (an iptables extension, shown by iptables-nft) is not"
                            " evaluated")  # fmt: skip
            return False
        elif w == "counter":
            cur.next()
            self.skip_words({"packets", "bytes", "name"}, numbers=True)
        elif w == "log":
            cur.next()
            self.skip_log()
        elif w == "comment":
            cur.next()
            if not cur.done():
                cur.next()
        elif w == "limit":
            cur.next()
            self.skip_words({"rate", "over", "until", "burst", "packets", "bytes", "kbytes",
                             "mbytes", "name"}, numbers=True)  # fmt: skip
            self.items.append(Maybe("a rate limit"))
        elif w == "quota":
            cur.next()
            self.skip_words({"over", "until", "used", "bytes", "kbytes", "mbytes", "gbytes",
                             "name"}, numbers=True)  # fmt: skip
            self.items.append(Maybe("a quota"))
        elif w == "last":
            cur.next()
            self.skip_words({"used", "never"}, numbers=True)
        elif w == "meter":
            cur.next()
            self.skip_until_block()
            self.items.append(Maybe("a meter (per-key rate limit)"))
        elif w in _SET_STATEMENTS and (cur.peek_text(1) or "").startswith("@"):
            cur.next()
            target = cur.next().text[1:]
            self.owner.rs.dynamic.add((self.table.family, self.table.name, target))
            body = self.skip_until_block()
            words = {t.text for t in body}
            if words & {"limit", "quota", "ct"}:
                self.items.append(Maybe("a per-source limit kept in a set"))
        elif w == "dup":
            cur.next()
            self.skip_words({"to", "device"}, takes_value=True)
        elif w == "flow":
            cur.next()
            self.skip_words({"add", "offload"}, takes_value=True)
        elif w == "ct" and cur.peek_text(1) == "count":
            cur.next()
            cur.next()
            self.skip_words({"over"}, numbers=True)
            self.items.append(Maybe("the number of connections (ct count)"))
        else:
            return self.expression_statement()
        return True

    def skip_words(self, words: set[str], numbers: bool = False, takes_value: bool = False) -> None:
        """Skip a statement's option words (each with the value after it, with ``takes_value``)
        and, with ``numbers``, the numbers, units (``5/second``) and strings among them."""
        cur = self.cur
        while not cur.done():
            t = cur.peek()
            assert t is not None  # noqa: S101 (done() was checked)
            if t.kind == "word" and t.text in words:
                cur.next()
                if takes_value and not cur.done():
                    cur.next()
            elif numbers and t.kind == "str":
                cur.next()
            elif numbers and re.fullmatch(r"[0-9][\w/.]*|[a-z]+/[a-z]+", t.text):
                cur.next()
            else:
                break

    def skip_log(self) -> None:
        cur = self.cur
        flag_words = {"tcp", "ip", "sequence", "options", "skuid", "ether", "all"}
        while not cur.done():
            w = cur.peek_text()
            if w in ("prefix", "level", "group", "snaplen", "queue-threshold"):
                cur.next()
                if not cur.done():
                    cur.next()
            elif w == "flags":
                cur.next()
                while cur.peek_text() in flag_words or cur.peek_text() == ",":
                    cur.next()
            else:
                break

    def skip_until_block(self) -> list[Tok]:
        """Skip to the end of the next ``{ ... }``; its tokens."""
        cur = self.cur
        while not cur.done():
            t = cur.next()
            if t.kind == "op" and t.text == "{":
                end = _closing(cur.toks, cur.i - 1)
                if end is None:
                    raise self.owner.error(t.line, "a '{' opened here is never closed")
                body = list(cur.toks[cur.i : end])
                cur.i = end + 1
                return body
        return []

    def expression_statement(self) -> bool:
        cur = self.cur
        expr = self.expression()
        nxt = cur.peek_text()
        if nxt == "set":
            cur.next()
            self.skip_value_expression()
            return True
        if nxt == "vmap":
            cur.next()
            self.items.append(VMap(expr, self.owner.value(cur, commas=False)))
            return True
        if nxt in ("exists", "missing"):
            cur.next()
            self.items.append(Match(expr, nxt, Val("")))
            return True
        op = "in" if isinstance(expr, Sel) and expr.name in _BITMASK_SELECTORS else "=="
        t = cur.peek()
        if t is not None and t.kind in ("op", "word") and t.text in _REL_OPS:
            op = _REL_OPS[t.text]
            cur.next()
        if cur.done():
            raise _Problem(f"{_render_expr(expr)} needs a value")
        right = self.owner.value(cur, commas=True)
        if isinstance(right, AnonSet | Ref) and op == "in":
            op = "=="
        self.items.append(Match(expr, op, right))
        return True

    def skip_value_expression(self) -> None:
        """The value of ``... set VALUE``: a literal or an expression, maybe through a map."""
        cur = self.cur
        w = cur.peek_text()
        if w is not None and _starts_expression(w):
            self.expression()
        else:
            self.owner.value(cur, commas=True)
        if cur.peek_text() == "map":
            cur.next()
            self.owner.value(cur, commas=False)

    def expression(self) -> Expr:
        expr = self.primary()
        while self.cur.peek_text() in _BIN_OPS:
            op = _BIN_OPS[self.cur.next().text]
            expr = Masking(expr, op, self.owner.value(self.cur, commas=False))
        if self.cur.peek_text() == ".":
            parts = [expr]
            while self.cur.peek_text() == ".":
                self.cur.next()
                part: Expr = self.literal_or_primary()
                while self.cur.peek_text() in _BIN_OPS:
                    op = _BIN_OPS[self.cur.next().text]
                    part = Masking(part, op, self.owner.value(self.cur, commas=False))
                parts.append(part)
            expr = Concat(tuple(parts))
        return expr

    def literal_or_primary(self) -> Expr:
        """A part of a concatenation: a selector, or a constant (``ip saddr . "lo" @s``)."""
        t = self.cur.peek()
        if t is not None and (t.kind == "str" or not _starts_expression(t.text)):
            self.cur.next()
            return Sel(f"literal {t.text}")
        return self.primary()

    def word(self) -> str:
        if self.cur.done():
            raise _Problem("an expression ends too early")
        t = self.cur.next()
        if t.kind not in ("word", "str"):
            raise _Problem(t.text)
        return t.text

    def primary(self) -> Expr:
        """One selector [nft(8), EXPRESSIONS]."""
        cur = self.cur
        w = self.word()
        if w in ("tcp", "ip") and cur.peek_text() == "option":
            cur.next()
            name = self.word()
            if cur.peek_text() in ("kind", "length", "size", "count", "left", "right", "tsval",
                                   "tsecr", "value", "type", "addr", "ptr", "val"):  # fmt: skip
                name += " " + self.word()
            return Sel(f"{w} option {name}")
        if w in ("ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th") or w in _OTHER_L4:
            field_ = self.word()
            if w == "sctp" and field_ == "chunk":
                name = self.word()
                if cur.peek_text() not in ("exists", "missing"):
                    name += " " + self.word()
                return Sel(f"sctp chunk {name}")
            return Sel(f"{w} {field_}")
        if w in ("ether", "vlan"):
            return Sel(f"{w} {self.word()}")
        if w in _IP6_EXTHDRS:
            return Sel(f"{w} {self.word()}")
        if w == "meta":
            return Sel(f"meta {self.word()}")
        if w in _META_BARE:
            return Sel(f"meta {w}")
        if w == "ct":
            key = self.word()
            if key in ("original", "reply"):
                nxt = self.word()
                if nxt in ("ip", "ip6"):
                    return Sel(f"ct {key} {nxt} {self.word()}")
                return Sel(f"ct {key} {nxt}")
            return Sel(f"ct {key}")
        if w == "fib":
            flags = [self.word()]
            while cur.peek_text() == ".":
                cur.next()
                flags.append(self.word())
            return Sel(f"fib {'.'.join(flags)} {self.word()}")
        if w == "rt":
            nxt = self.word()
            if nxt in ("ip", "ip6"):
                nxt = self.word()
            return Sel(f"rt {nxt}")
        if w == "socket":
            key = self.word()
            if key == "cgroupv2":
                self.word()  # level
                self.word()
            return Sel(f"socket {key}")
        if w == "osf":
            while cur.peek_text() in ("ttl", "loose", "skip", "global"):
                cur.next()
            return Sel(f"osf {self.word()}")
        if w == "ipsec":
            direction = self.word()
            if cur.peek_text() == "spnum":
                cur.next()
                self.word()
            key = self.word()
            if key in ("ip", "ip6"):
                key += " " + self.word()
            return Sel(f"ipsec {direction} {key}")
        if w == "numgen":
            self.word()  # inc | random
            self.skip_pairs({"mod", "offset"})
            return Sel("numgen")
        if w == "jhash":
            self.expression()
            self.skip_pairs({"mod", "seed", "offset"})
            return Sel("jhash")
        if w == "symhash":
            self.skip_pairs({"mod", "offset"})
            return Sel("symhash")
        if w.startswith("@") and cur.peek_text() == ",":
            for _ in range(4):  # @base,offset,length
                if cur.done():
                    raise _Problem("a raw payload expression ends too early")
                cur.next()
            return Sel("raw")
        raise _Problem(w)

    def skip_pairs(self, words: set[str]) -> None:
        while self.cur.peek_text() in words:
            self.cur.next()
            self.word()


def _starts_expression(word: str) -> bool:
    return (
        word in ("ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "meta", "ct", "fib",
                 "rt", "socket", "osf", "ipsec", "numgen", "jhash", "symhash", "ether", "vlan")
        or word in _META_BARE
        or word in _OTHER_L4
        or word in _IP6_EXTHDRS
    )  # fmt: skip
