"""Apache ``Require`` access rules (and the old ``Order``/``Allow``/``Deny``), evaluated for
every source address.

``apache`` (mod_authz_core, mod_authz_host, mod_access_compat)
    ``Require ip`` (full and partial addresses such as ``10.1``, ``a/nn``, ``a/netmask``,
    IPv6), ``Require not ip``, ``Require all granted|denied``, ``Require local`` (the
    loopback networks), in ``<RequireAll>``, ``<RequireAny>`` and ``<RequireNone>``, with
    the results of mod_authz_core: GRANTED, DENIED or NEUTRAL, where a negated directive can
    never grant; directives outside a container behave as one ``<RequireAny>``, and only
    GRANTED lets the request in. Other providers (``valid-user``, ``user``, ``group``,
    ``host``, ``env``, ``expr``, ``method`` ...) and directives inside ``<Limit>``,
    ``<LimitExcept>`` and ``<If>`` are conditional. ``<IfModule>`` content is read (the
    modules are assumed loaded; a negated ``<IfModule !...>`` is skipped). The old
    ``Order``/``Allow from``/``Deny from`` are evaluated as mod_access_compat does
    (``Order Deny,Allow`` is the default); host names and ``env=`` there are conditional;
    a context that mixes them with ``Require`` is conditional as a whole (Apache does not
    support mixing them). Contexts: ``<Directory>``, ``<Location>``, ``<Files>``,
    ``<Proxy>`` (and their ``Match`` forms) and the file's top level (a .htaccess), each
    that has access directives of its own; section merging across contexts is not modelled.

Each context is evaluated on its own; an address gets a verdict only where every context
agrees on it (:mod:`auditor.allowlists.web.common`).

The file is a scope (``--scope`` its path, or its file name, as for a Postfix cidr table):
the addresses of every ``Require ip`` in it that can grant, that is with no ``not`` and not
inside a ``<RequireNone>`` (the old ``Allow from`` lines are not part of it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import (
    ReadContext,
    Reader,
    ReaderError,
    address_findings,
    decode_text,
    file_path,
)
from auditor.allowlists.web.apache_lower import (
    AuthzNode,
    CompatItem,
    Own,
    RequireLowering,
    Result,
    SectionRefs,
    leaves,
    negate,
    order_rules,
)
from auditor.allowlists.web.common import FAMILIES, Context, _rangeset, evaluate
from auditor.errors import AddressError
from auditor.model import (
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
)
from auditor.ruleset.engine import first_match
from auditor.ruleset.ir import DROP, Action, Interval
from auditor.ruleset.sweep import complement, merge


@dataclass
class _ApacheSection:
    label: str
    line: int
    kind: str
    authz: AuthzNode
    order: tuple[str, int] | None = None
    allow: list[tuple[int, str, list[str]]] = field(default_factory=list)
    deny: list[tuple[int, str, list[str]]] = field(default_factory=list)
    satisfy_any: bool = False
    merging: bool = False

    @property
    def has_require(self) -> bool:
        return bool(self.authz.children)

    @property
    def has_compat(self) -> bool:
        return bool(self.allow or self.deny or self.order)


_CONTEXT_SECTIONS = frozenset(
    {"directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
     "proxy", "proxymatch"}
)  # fmt: skip
_AUTHZ_CONTAINERS = {"requireall": "all", "requireany": "any", "requirenone": "none"}
# mod_access_compat: what apr_ipsubnet_create() does not take for an address is a host name
_COMPAT_ADDRESS = re.compile(r"[0-9.]+(/[0-9.]+)?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(/[0-9]+)?")
_SECTION = re.compile(r"<\s*(/?)\s*([A-Za-z]+)\s*(.*?)\s*>\s*$")


def _apache_words(text: str) -> list[str]:
    """Arguments as Apache's ap_getword_conf() splits them: spaces, with quotes."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "\"'":
            q = text[i]
            j = i + 1
            buf = []
            while j < n and text[j] != q:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _apache_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines: a backslash at the end of a line joins the next; ``#`` lines are
    comments (Apache has no comment after a directive)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if pending is not None:
            start, acc = pending
            line = acc + " " + line.strip()
            lineno = start
            pending = None
        stripped = line.strip()
        if stripped.endswith("\\"):
            pending = (lineno, stripped[:-1])
            continue
        if not stripped or stripped.startswith("#"):
            continue
        out.append((lineno, stripped))
    if pending is not None:
        out.append(pending)
    return out


class _Apache:
    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []
        self.sections: list[_ApacheSection] = []

    def error(self, message: str, line: int, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def parse(self, text: str) -> None:
        top = _ApacheSection("top level (.htaccess)", 0, "", AuthzNode("any", 0, "top level"))
        self.sections.append(top)
        section, nodes, skip = top, [top.authz], False
        # per open section: its tag, its line, and the state to restore when it closes
        stack: list[tuple[str, int, _ApacheSection, list[AuthzNode], bool]] = []
        for line, logical in _apache_lines(text):
            m = _SECTION.match(logical) if logical.startswith("<") else None
            if m is not None:
                closing, tag, arg = m.group(1) == "/", m.group(2).lower(), m.group(3)
                if closing:
                    if not stack or stack[-1][0] != tag:
                        open_tag = f"<{stack[-1][0]}> (line {stack[-1][1]})" if stack else "none"
                        raise self.error(
                            f"</{m.group(2)}> without matching <{m.group(2)}> section",
                            line,
                            hint=f"the open section is {open_tag}",
                        )
                    _, _, section, nodes, skip = stack.pop()
                    continue
                stack.append((tag, line, section, nodes, skip))
                if not skip:
                    section, nodes, skip = self.open(
                        tag, arg, m.group(2), line, logical, section, nodes
                    )
                continue
            if skip:
                continue
            self.directive(logical, line, section, nodes)
        if stack:
            raise self.error(f"<{stack[-1][0]}> is not closed", stack[-1][1])

    def open(
        self,
        tag: str,
        arg: str,
        shown: str,
        line: int,
        logical: str,
        section: _ApacheSection,
        nodes: list[AuthzNode],
    ) -> tuple[_ApacheSection, list[AuthzNode], bool]:
        """The state inside a section that opens: (section, authz nodes, skipping)."""
        if tag == "ifmodule" and arg.startswith("!"):
            self.findings.append(
                Finding(
                    "assumed",
                    Severity.INFO,
                    f"<IfModule {arg}> skipped: the module is assumed loaded",
                    Origin(self.ctx.name, line),
                )
            )
            return section, nodes, True
        if tag in _CONTEXT_SECTIONS:
            label = f"<{shown} {arg}> (line {line})"
            new = _ApacheSection(label, line, tag, AuthzNode("any", line, f"<{shown} {arg}>"))
            self.sections.append(new)
            return new, [new.authz], False
        if tag == "virtualhost":
            host = _ApacheSection(f"<VirtualHost {arg}>", line, tag, AuthzNode("any", line, ""))
            return host, [host.authz], False
        if tag in _AUTHZ_CONTAINERS:
            node = AuthzNode(_AUTHZ_CONTAINERS[tag], line, logical, negated=tag == "requirenone")
        elif tag in ("limit", "limitexcept", "if", "elseif", "else"):
            node = AuthzNode("limit", line, logical)
        else:
            return section, nodes, False  # IfModule, IfDefine, IfVersion ...: read through
        nodes[-1].children.append(node)
        return section, [*nodes, node], False

    def directive(
        self, logical: str, line: int, section: _ApacheSection, nodes: list[AuthzNode]
    ) -> None:
        words = _apache_words(logical)
        name = words[0].lower()
        args = words[1:]
        if name == "require":
            if section.kind == "virtualhost":
                raise self.error(
                    "Require not allowed here", line, hint="put it in <Directory> or <Location>"
                )
            nodes[-1].children.append(self.require(args, line, logical))
        elif name == "order":
            section.order = ("".join(args).lower(), line)
        elif name in ("allow", "deny"):
            if not args or args[0].lower() != "from":
                raise self.error(f"{words[0]} must be followed by 'from'", line)
            target = section.allow if name == "allow" else section.deny
            target.append((line, logical, args[1:]))
        elif name == "satisfy":
            section.satisfy_any = bool(args) and args[0].lower() == "any"
        elif name == "authmerging" and args and args[0].lower() != "off":
            section.merging = True

    def require(self, args: list[str], line: int, text: str) -> AuthzNode:
        negated = bool(args) and args[0].lower() == "not"
        if negated:
            args = args[1:]
        if not args:
            raise self.error("Require needs a provider", line, hint="e.g. Require ip 192.0.2.0/24")
        return AuthzNode("require", line, text, negated, provider=args[0].lower(), args=args[1:])

    # -- lowering: per family, the section's rules in the ruleset intermediate form --

    def own(self, leaf: AuthzNode) -> dict[int, Own]:
        """A directive's own result per family (its ``not`` included); its addresses are
        read here, once."""
        provider = leaf.provider
        out: dict[int, Own]
        if provider == "all":
            kind = leaf.args[0].lower() if leaf.args else ""
            if kind not in ("granted", "denied"):
                raise self.error("Require all takes 'granted' or 'denied'", leaf.line)
            result: Result = "G" if kind == "granted" else "D"
            out = dict.fromkeys(FAMILIES, ((result, None),))
        elif provider in ("ip", "local"):
            if provider == "local":
                inside = {4: [(0x7F000000, 0x7FFFFFFF)], 6: [(1, 1)]}  # the loopback networks
            else:
                if not leaf.args:
                    raise self.error("Require ip needs an address", leaf.line)
                parsed = [self.apache_address(arg, leaf.line) for arg in leaf.args]
                inside = {
                    fam: merge([iv for f, ivs in parsed if f == fam for iv in ivs])
                    for fam in FAMILIES
                }
            out = {}
            for fam in FAMILIES:
                parts: tuple[tuple[Result, list[Interval]], ...] = (
                    ("G", inside[fam]),
                    ("D", complement(inside[fam], ipspace.BITS[fam])),
                )
                out[fam] = tuple((result, tuple(part)) for result, part in parts if part)
        else:
            out = dict.fromkeys(FAMILIES, (("C", None),))
        return {fam: negate(o) for fam, o in out.items()} if leaf.negated else out

    def evaluate_require(self, section: _ApacheSection) -> dict[int, list[Segment]]:
        """``Require``: the tree as chains (:class:`RequireLowering`), per family."""
        source = self.ctx.name
        directives: dict[int, tuple[RuleRef, str, dict[int, Own]]] = {}
        for leaf in leaves(section.authz):
            ref = RuleRef(Origin(source, leaf.line), leaf.text)
            why = f"Require {leaf.provider} is not evaluated (it depends on the request)"
            directives[id(leaf)] = (ref, why, self.own(leaf))
        origin = Origin(source, section.line or None)
        refs = SectionRefs(
            denied=RuleRef(origin, f"{section.label}: denied"),
            neutral=RuleRef(origin, f"{section.label}: no Require directive grants it"),
            unknown=RuleRef(
                origin,
                f"{section.label}: depends on the HTTP method or an expression",
                "<Limit>, <LimitExcept> or <If>",
            ),
        )
        segments = {}
        for fam in FAMILIES:
            own = {k: (ref, why, per[fam]) for k, (ref, why, per) in directives.items()}
            rs = RequireLowering(source, fam, own, refs).ruleset(section.authz)
            segments[fam] = evaluate(rs, source)
        return segments

    def evaluate_compat(self, section: _ApacheSection) -> dict[int, list[Segment]]:
        """mod_access_compat: ``Order Deny,Allow`` allows what Allow matches or Deny does not;
        ``Allow,Deny`` and ``Mutual-failure`` allow what Allow matches and Deny does not
        (:func:`order_rules`)."""
        order_text, order_line = section.order or ("deny,allow", 0)
        if order_text not in ("deny,allow", "allow,deny", "mutual-failure"):
            raise self.error(
                f"unknown Order {order_text!r}", order_line, hint="Deny,Allow or Allow,Deny"
            )
        items: dict[int, tuple[list[CompatItem], list[CompatItem]]] = {
            fam: ([], []) for fam in FAMILIES
        }
        for side, entries in enumerate((section.allow, section.deny)):
            for k, (line, text, words) in enumerate(entries):
                ref = RuleRef(Origin(self.ctx.name, line), text)
                for item in words:
                    low = item.lower()
                    if low == "all":
                        found = [(fam, CompatItem(ref, k)) for fam in FAMILIES]
                    elif low.startswith("env="):
                        why = f"{item}: depends on an environment variable"
                        found = [(fam, CompatItem(ref, k, None, why)) for fam in FAMILIES]
                    elif _COMPAT_ADDRESS.fullmatch(item):
                        f, iv = self.apache_address(item, line)
                        found = [(f, CompatItem(ref, k, tuple(iv)))]
                    else:
                        why = f"{item}: a host name, matched by double reverse DNS"
                        found = [(fam, CompatItem(ref, k, None, why)) for fam in FAMILIES]
                    for fam, it in found:
                        items[fam][side].append(it)
        origin = Origin(self.ctx.name, order_line or section.line or None)
        end_ref = RuleRef(origin, f"Order {order_text} default")
        allow_wins = order_text == "deny,allow"
        end: Outcome = "accept" if allow_wins else "drop"
        drop = DROP
        if section.satisfy_any:
            why = "Satisfy Any: authentication may still let the client in"
            drop = Action("drop", unsure=why)
            if not allow_wins:
                end, end_ref = "conditional", RuleRef(end_ref.origin, end_ref.text, why)
        segments = {}
        for fam in FAMILIES:
            allow, deny = items[fam]
            rules = order_rules(allow_wins, allow, deny, drop)
            segments[fam] = list(first_match(rules, fam, end, end_ref, None).segments)
        return segments

    def grants(self) -> list[AuthzNode]:
        """Every ``Require ip`` that can grant (no negation on its way), in the file's order."""
        out: list[AuthzNode] = []

        def walk(node: AuthzNode) -> None:
            if node.negated:
                return
            if node.kind == "require":
                if node.provider == "ip" and node.args:
                    out.append(node)
                return
            for kid in node.children:
                walk(kid)

        for section in self.sections:
            walk(section.authz)
        return sorted(out, key=lambda n: n.line)

    def granted(self) -> list[tuple[AuthzNode, int, int, int, int]]:
        """(directive, the word's place in its arguments, family, first, last) of every
        address a ``Require ip`` that can grant names."""
        out: list[tuple[AuthzNode, int, int, int, int]] = []
        for node in self.grants():
            for k, word in enumerate(node.args):
                try:
                    family, ivs = self.apache_address(word, node.line)
                except ReaderError:
                    continue  # the reader reported it (only a section no one reads gets here)
                out.extend((node, k, family, a, b) for a, b in ivs)
        return out

    def objects(self) -> tuple[list[Entry], list[str]]:
        """The file as a scope: the addresses of its granting ``Require ip`` lines."""
        name = file_path(self.ctx.name)
        return [
            Entry(f, a, b, Origin(self.ctx.name, n.line, n.text), name)
            for n, _, f, a, b in self.granted()
        ], [name]

    def apache_address(self, text: str, line: int) -> tuple[int, list[Interval]]:
        """An address as apr_ipsubnet_create() reads it: full, partial (``10.1``), with a
        prefix length or a netmask, or IPv6."""
        addr, slash, mask = text.partition("/")
        if ":" not in addr and re.fullmatch(r"[0-9]+(\.[0-9]+){0,3}\.?", addr) and not slash:
            octets = [o for o in addr.split(".") if o != ""]
            if len(octets) < 4:
                # a partial address: the given octets, the rest any
                text = ".".join(octets + ["0"] * (4 - len(octets))) + f"/{8 * len(octets)}"
                addr, slash, mask = text.partition("/")
        if slash and "." in mask:
            try:
                _, value, _ = ipspace.parse_address(mask)
            except AddressError as e:
                raise self.error(f"invalid netmask in {text!r}: {e.message}", line) from None
            inverted = ~value & 0xFFFFFFFF
            if inverted & (inverted + 1):
                raise self.error(
                    f"{text!r} has a non-contiguous netmask, which is not a CIDR",
                    line,
                    hint="write the network as a/nn",
                )
            text = f"{addr}/{32 - inverted.bit_length()}"
        try:
            parsed = ipspace.parse(text, self.ctx.host_bits)
        except AddressError as e:
            raise self.error(
                f"ip address {text!r} appears to be invalid: {e.message}", line, e.hint
            ) from None
        self.findings.extend(address_findings(text, parsed, Origin(self.ctx.name, line)))
        return parsed.family, [(parsed.first, parsed.last)]

    def context(self, section: _ApacheSection) -> Context:
        segments: dict[int, list[Segment]]
        if section.has_require and section.has_compat:
            why = "Order/Allow/Deny mixed with Require: Apache does not support mixing them"
            ref = RuleRef(Origin(self.ctx.name, section.line or None), section.label, why)
            segments = {
                fam: list(first_match([], fam, "conditional", ref, None).segments)
                for fam in FAMILIES
            }
        elif section.has_require:
            segments = self.evaluate_require(section)
        else:
            segments = self.evaluate_compat(section)
        if section.merging:
            self.unsupported.append(
                f"{self.ctx.name}:{section.line}: AuthMerging in {section.label} (merging with"
                " the enclosing sections is not modelled)"
            )
        return Context(section.label, segments)


def sniff_apache(data: bytes) -> bool:
    """Apache: a ``Require ip|all|not|host|local`` line, or ``Allow from``/``Deny from``."""
    head = data[:16384].decode("utf-8", "replace")
    return bool(
        re.search(
            r"(?im)^\s*(require\s+(not\s+)?(ip|all|host|local)\b|(allow|deny)\s+from\s+\S"
            r"|<require(all|any|none)>)",
            head,
        )
    )


class ApacheReader(Reader):
    name = "apache"
    description = "Apache Require ip / RequireAll / RequireAny, and Order/Allow/Deny"
    suffixes = (".htaccess",)
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_apache(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        apache = _Apache(ctx)
        apache.parse(text)
        sections = [s for s in apache.sections if s.has_require or s.has_compat]
        if not sections:
            raise ReaderError(
                "no Require, Allow or Deny directive",
                source=ctx.name,
                hint="give the <Directory>/<Location> sections or the .htaccess that controls"
                " access",
            )
        contexts = [apache.context(s) for s in sections]
        return _rangeset(
            data, ctx, self.name, contexts, apache.findings, apache.unsupported, apache.objects
        )
