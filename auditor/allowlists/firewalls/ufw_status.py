"""``ufw-status``: the output of ``ufw status``, ``ufw status verbose`` or ``ufw status numbered``
(ufw(8); the layout is ufw's own ``get_status``: ``To``, ``Action``, ``From`` columns).
ufw puts its user rules into one chain per family (``ufw-user-input``) and evaluates them
in the order listed, first match; what no rule matches gets the default incoming policy.
What is understood:

- ``ALLOW`` (accept), ``DENY`` and ``REJECT`` (drop), ``LIMIT`` (conditional: ufw(8)
  "deny connections if an IP address has attempted to initiate 6 or more connections in
  the last 30 seconds", so the outcome depends on the client's recent connections);
  ``IN`` (or no direction, as plain ``ufw status`` shows incoming rules) applies to
  connections to this host, ``OUT`` never does, ``FWD`` (route rules) only with
  ``--chain FORWARD``, which evaluates them with the routed default;
- ``To``: ``25``, ``25/tcp``, ``22,25/tcp``, ``100:200/tcp`` (a port without a protocol is
  TCP and UDP), ``Anywhere``, ``Anywhere/tcp``, an application profile (``Postfix`` =
  25/tcp, ``Postfix SMTPS`` = 465/tcp, ``Postfix Submission`` = 587/tcp, ``OpenSSH``,
  ``Apache``/``Nginx``/``Dovecot`` profiles, as the packages ship them; any other profile
  makes the rule conditional: its ports are in ``ufw app info NAME``), the verbose form
  ``25/tcp (Postfix)``, a destination address (``192.0.2.1 25/tcp``: evaluated with
  ``--to``, else conditional), ``on eth0`` (the incoming interface: conditional; ``on lo``
  never matches a remote client);
- ``From``: ``Anywhere``, an address or network, with a source port or profile
  (conditional: the client's source port is not known), ``(log)``/``(log-all)`` and
  ``# comments``;
- a comment names a group (a ``--scope``): the rules that share it. Its addresses are the
  sources of its ``ALLOW`` and ``LIMIT`` rules that can match the service (a rule ``From
  Anywhere`` adds none), whether or not an earlier rule decides them. Whitespace in the name
  becomes one space, other control characters ``_``;
- ``(v6)`` marks the IPv6 twin ufw adds for a rule without addresses; a row with an IPv6
  address is IPv6, any other row IPv4.

``Default: deny (incoming), ...`` (``ufw status verbose``) gives the policy for addresses
no rule decides; without it they are conditional ("run ufw status verbose").
``Status: inactive`` means ufw filters nothing: every address is allowed for both
families, reported as a finding. When rules without addresses exist but no IPv6 twin is
listed, ufw runs with ``IPV6=no`` and IPv6 is not covered by the output.
ufw's ``before.rules`` (loopback, established connections, ICMP, DHCP, mDNS, UPnP) are not
in the output; for a new TCP connection from another host they decide nothing.

``--service any``: see :mod:`auditor.allowlists.firewalls.hostfw_common`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.firewalls.hostfw_common import (
    FAMILIES,
    HostRule,
    Interval,
    Traffic,
    Verdict,
    _destination,
    _full,
    _parse_cidr,
    _result,
    _traffics,
    lower,
)
from auditor.model import (
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
    Verdicts,
)
from auditor.ruleset import ir
from auditor.ruleset.engine import evaluate, probes, traffic_match

UFW_APPS: dict[str, tuple[Traffic, ...]] = {
    # /etc/ufw/applications.d as the packages ship them (postfix, openssh-server, apache2,
    # nginx, dovecot-*)
    "Postfix": (Traffic("tcp", 25, 25),),
    "Postfix SMTPS": (Traffic("tcp", 465, 465),),
    "Postfix Submission": (Traffic("tcp", 587, 587),),
    "OpenSSH": (Traffic("tcp", 22, 22),),
    "Apache": (Traffic("tcp", 80, 80),),
    "Apache Secure": (Traffic("tcp", 443, 443),),
    "Apache Full": (Traffic("tcp", 80, 80), Traffic("tcp", 443, 443)),
    "Nginx HTTP": (Traffic("tcp", 80, 80),),
    "Nginx HTTPS": (Traffic("tcp", 443, 443),),
    "Nginx Full": (Traffic("tcp", 80, 80), Traffic("tcp", 443, 443)),
    "Dovecot IMAP": (Traffic("tcp", 143, 143),),
    "Dovecot POP3": (Traffic("tcp", 110, 110),),
    "Dovecot Secure IMAP": (Traffic("tcp", 993, 993),),
    "Dovecot Secure POP3": (Traffic("tcp", 995, 995),),
}

_UFW_ACTIONS: dict[str, Verdict] = {
    "ALLOW": "accept",
    "DENY": "drop",
    "REJECT": "drop",
    "LIMIT": "accept",
}
_UFW_POLICIES: dict[str, Outcome] = {"allow": "accept", "deny": "drop", "reject": "drop"}
_ACTION = re.compile(r"(?<=\s)(ALLOW|DENY|REJECT|LIMIT)(?: (IN|OUT|FWD))?(?=\s|$)")
_NUMBER = re.compile(r"\[\s*\d+\]\s*")
_PORTS = re.compile(r"([0-9]+(?::[0-9]+)?(?:,[0-9]+(?::[0-9]+)?)*)(?:/([a-z0-9]+))?")
_ATTRIBS = re.compile(r"\s*\((?:log|log-all|out)(?:,\s*(?:log|log-all|out))*\)$")
_VERBOSE_APP = re.compile(r"(.*?)\s*\(([^()]+?)( \(v6\))?\)")
_DEFAULT = re.compile(r"Default:\s*(.*)")
_STATUS = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*Status: (active|inactive)\s*(\n|\Z)")


def sniff_ufw(data: bytes) -> bool:
    """``ufw status`` output: ``Status: active`` or ``Status: inactive`` first."""
    return bool(_STATUS.match(data[:200]))


@dataclass
class _Location:
    """One side of a ufw rule row (``To`` or ``From``)."""

    family: int | None = None
    addresses: tuple[Interval, ...] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    protocol: str | None = None
    app: str | None = None
    interface: str | None = None
    v6: bool = False


class _UfwParser:
    def __init__(self, text: str, ctx: ReadContext) -> None:
        self.text = text
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.comments: dict[int, str] = {}
        """Line to the group its comment names."""

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def location(self, text: str, line: int) -> _Location:
        loc = _Location()
        m = re.search(r"\s+on\s+(\S+)$", text)
        if m:
            loc.interface = m.group(1)
            text = text[: m.start()]
        verbose = _VERBOSE_APP.fullmatch(text)
        if verbose and verbose.group(2) != "v6":
            # ufw status verbose: "25/tcp (Postfix)", "25/tcp (Postfix (v6))"; the ports are
            # shown, the profile name is for the reader
            text, loc.app = verbose.group(1), verbose.group(2)
            loc.v6 = bool(verbose.group(3))
        if re.search(r"\s*\(v6\)$", text):
            loc.v6 = True
            text = re.sub(r"\s*\(v6\)$", "", text)
        words = text.split()
        if not words:
            raise self.error(line, "a column of the rule is empty")
        head, proto = words[0], None
        base, slash, tail = head.rpartition("/")
        if slash and re.fullmatch(r"[a-z][a-z0-9-]*", tail):
            head, proto = base, tail.lower()
        rest = words
        if head == "Anywhere":
            rest = words[1:]
            loc.protocol = proto
        elif not _PORTS.fullmatch(words[0]) and re.fullmatch(r"[0-9A-Fa-f:.]+(/[0-9]+)?", head):
            parsed = _parse_cidr(head, self.ctx, line, self.findings)
            loc.family = parsed.family
            loc.addresses = ((parsed.first, parsed.last),)
            loc.protocol = proto
            rest = words[1:]
        if rest:
            ports = _PORTS.fullmatch(" ".join(rest))
            if ports:
                loc.ports = tuple(_port_range(p) for p in ports.group(1).split(","))
                loc.protocol = ports.group(2) or loc.protocol
            elif loc.app is None:
                loc.app = " ".join(rest)
            else:
                raise self.error(line, f"cannot read {text!r}")
        return loc

    def parse(self) -> tuple[list[HostRule], dict[str, tuple[str, int]], int]:
        """The rules, the default policies (name -> (word, line)) and the Status line."""
        lines = self.text.split("\n")
        status_line = next((n for n, raw in enumerate(lines, 1) if raw.strip()), 0)
        policies: dict[str, tuple[str, int]] = {}
        rules: list[HostRule] = []
        in_table = False
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or lineno == status_line:
                continue
            if not in_table:
                if line.startswith(("Logging:", "New profiles:")):
                    continue
                m = _DEFAULT.match(line)
                if m:
                    for part in m.group(1).split(","):
                        pm = re.fullmatch(r"\s*(\w+) \((incoming|outgoing|routed)\)\s*", part)
                        if pm is None:
                            raise self.error(lineno, f"cannot read the default policy {part!r}")
                        policies[pm.group(2)] = (pm.group(1).lower(), lineno)
                    continue
                if line.split() == ["To", "Action", "From"]:
                    continue
                if set(line.replace(" ", "")) == {"-"}:
                    in_table = True
                    continue
                raise self.error(
                    lineno,
                    f"unexpected line {line[:60]!r} before the rule table",
                    hint="give the output of `ufw status verbose`, in English (LANG=C)",
                )
            rules.extend(self.row(line, lineno))
        return rules, policies, status_line

    def row(self, line: str, lineno: int) -> list[HostRule]:
        body = _NUMBER.sub("", line, count=1) if line.startswith("[") else line
        m = _ACTION.search(body)
        if m is None:
            raise self.error(
                lineno,
                f"cannot read the rule {line[:80]!r}: no ALLOW, DENY, REJECT or LIMIT",
            )
        to_text = body[: m.start()].strip()
        from_text = body[m.end() :]
        hash_at = re.search(r"(^|\s)#", from_text)
        if hash_at:
            name = group_name(from_text[hash_at.end() :])
            if name:
                self.comments[lineno] = name
            from_text = from_text[: hash_at.start()]
        from_text = _ATTRIBS.sub("", from_text.strip())
        if not to_text or not from_text:
            raise self.error(lineno, f"cannot read the rule {line[:80]!r}: a column is missing")
        action, direction = m.group(1), m.group(2) or "IN"
        dst, src = self.location(to_text, lineno), self.location(from_text, lineno)
        forward = direction == "FWD"
        chain = self.ctx.chain or "INPUT"
        if direction == "OUT" or forward != (chain == "FORWARD"):
            return []  # outgoing rules, or route rules on INPUT (and the reverse)
        families = {f for f in (dst.family, src.family) if f is not None}
        if len(families) > 1:
            raise self.error(lineno, "the rule mixes IPv4 and IPv6 addresses")
        family = families.pop() if families else (6 if dst.v6 or src.v6 else 4)
        ref = RuleRef(Origin(self.ctx.name, lineno), line)
        why: list[str] = []
        unsure = ""
        if action == "LIMIT":
            unsure = (
                "rate-limited (ufw limit: a client with 6 or more connection attempts in 30"
                " seconds is refused)"
            )
        for loc in (dst, src):
            if loc.interface is None:
                continue
            if loc.interface == "lo" and loc is dst and not forward:
                return []  # loopback: never a connection from another host
            where = "arriving on" if (loc is dst) != forward else "leaving through"
            why.append(f"only for connections {where} {loc.interface}")
        if dst.addresses is not None:
            cond = _destination(self.ctx, family, dst.addresses)
            if cond is None:
                return []
            if cond:
                why.append(cond)
        # reasons about which connections the rule matches: --service any does without them
        narrow: list[str] = []
        if src.ports is not None or src.app is not None:
            narrow.append("the client's source port")
        protocol = dst.protocol or src.protocol
        traffic: tuple[Traffic, ...] | None
        if dst.ports is not None:
            traffic = tuple(Traffic(protocol, a, b) for a, b in dst.ports)
        elif dst.app is not None and dst.app in UFW_APPS:
            traffic = UFW_APPS[dst.app]
        elif dst.app is not None:
            traffic = None
            narrow.append(f"application profile {dst.app!r}: its ports are in `ufw app info`")
        elif protocol is not None:
            traffic = (Traffic(protocol, 0, 65535),)
        else:
            traffic = None
        sources = src.addresses if src.addresses is not None else _full(family)
        outcome = _UFW_ACTIONS[action]
        return [HostRule(family, sources, traffic, outcome, ref, tuple(why), tuple(narrow), unsure)]


def group_name(comment: str) -> str:
    """The group a rule's comment names: whitespace runs become one space, other control
    and format characters ``_``, so that the name shows on one line as it is typed."""
    out = []
    for ch in comment:
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch).startswith("C"):
            out.append("_")
        else:
            out.append(ch)
    return re.sub(" {2,}", " ", "".join(out)).strip()


def comment_groups(
    rules: list[HostRule], comments: dict[int, str], rulesets: list[ir.Ruleset], ctx: ReadContext
) -> tuple[list[Entry], list[str]]:
    """The scopes: every comment's group, and the sources of its ALLOW and LIMIT rules that
    can match the service (each entry's origin the rule's line)."""
    tests = probes(ctx.service, rulesets)
    entries: list[Entry] = []
    for rule in rules:
        name = comments.get(rule.ref.origin.line or 0)
        if name is None or rule.outcome != "accept" or rule.sources == _full(rule.family):
            continue
        if not any(traffic_match(t, p)[0] for t in _traffics(rule) for p in tests):
            continue
        origin = Origin(ctx.name, rule.ref.origin.line, rule.ref.text)
        entries.extend(Entry(rule.family, a, b, origin, name) for a, b in rule.sources)
    return entries, list(dict.fromkeys(comments.values()))


def _port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(":")
    return int(lo), int(hi or lo)


class UfwStatusReader(Reader):
    name = "ufw-status"
    description = "ufw status [verbose|numbered] output: ufw's rules in order, first match"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_ufw(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        m = _STATUS.match(text.encode("utf-8")[:200])
        if m is None:
            raise ReaderError(
                "this is not `ufw status` output (no 'Status: active' or 'Status: inactive'"
                " line first)",
                source=ctx.name,
                line=1,
                hint="give the output of `ufw status verbose`",
            )
        chain = ctx.chain or "INPUT"
        if chain not in ("INPUT", "FORWARD"):
            raise ReaderError(
                f"ufw has no chain {chain!r}",
                source=ctx.name,
                hint="use --chain INPUT (this host) or FORWARD (route rules)",
            )
        parser = _UfwParser(text, ctx)
        findings = parser.findings
        if m.group(1) == b"inactive":
            filled = [(n, raw.strip()) for n, raw in enumerate(text.split("\n"), 1) if raw.strip()]
            line = filled[0][0]
            if len(filled) > 1:
                raise ReaderError(
                    f"unexpected {filled[1][1][:60]!r} after 'Status: inactive'",
                    source=ctx.name,
                    line=filled[1][0],
                )
            ref = RuleRef(Origin(ctx.name, line), "Status: inactive")
            findings.append(
                Finding(
                    "firewall-inactive",
                    Severity.WARNING,
                    "ufw is inactive: it filters nothing, so every address may connect as far"
                    " as ufw is concerned (another firewall on the host is not shown here)",
                    Origin(ctx.name, line),
                )
            )
            open_all = [Verdicts(f, (Segment(0, ipspace.MAX[f], "accept", ref),)) for f in FAMILIES]
            return _result(data, ctx, self.name, open_all, findings, [])
        rules, policies, status_line = parser.parse()
        key = "routed" if chain == "FORWARD" else "incoming"
        default: tuple[Outcome, RuleRef]
        if key in policies:
            word, line = policies[key]
            text_line = text.split("\n")[line - 1].strip()
            if word in _UFW_POLICIES:
                default = (_UFW_POLICIES[word], RuleRef(Origin(ctx.name, line), text_line))
            elif word == "disabled":
                default = (
                    "conditional",
                    RuleRef(
                        Origin(ctx.name, line),
                        text_line,
                        "ufw does not filter routed traffic (disabled)",
                    ),
                )
            else:
                raise ReaderError(f"unknown default policy {word!r}", source=ctx.name, line=line)
        else:
            default = (
                "conditional",
                RuleRef(
                    Origin(ctx.name, status_line),
                    f"default {key} policy",
                    "the default policy is not shown: run `ufw status verbose`",
                ),
            )
        families: tuple[int, ...] = FAMILIES
        unaddressed_v4 = any(
            r.family == 4 and r.sources == _full(4) and not any("destination" in w for w in r.whys)
            for r in rules
        )
        if unaddressed_v4 and not any(r.family == 6 for r in rules):
            families = (4,)
            findings.append(
                Finding(
                    "family-not-covered",
                    Severity.INFO,
                    "no IPv6 rule is listed although rules without addresses get an IPv6"
                    " twin: ufw runs with IPV6=no, and IPv6 is not covered by this output",
                    Origin(ctx.name),
                )
            )
        lowered = [lower(rules, fam, default) for fam in families]
        verdicts = [evaluate(rs, ctx.service) for rs in lowered]
        comments = parser.comments
        kept = [r for r in rules if r.family in families]

        def objects() -> tuple[list[Entry], list[str]]:
            return comment_groups(kept, comments, lowered, ctx)

        return _result(data, ctx, self.name, verdicts, findings, [], objects)
