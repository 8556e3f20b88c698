"""nftables rulesets, as ``nft list ruleset`` text (or a file for ``nft -f``) and as
``nft -j list ruleset`` JSON: the base chains a NEW connection to the service passes, first match.

The question is the one the iptables reader answers ("which sources can open a connection to
``--service``"), asked of nftables' model [nft(8), CHAINS and STATEMENTS; wiki.nftables.org,
"Netfilter hooks" and "Configuring chains"]:

- Tables of family ``inet`` see IPv4 and IPv6, ``ip`` only IPv4, ``ip6`` only IPv6. Chains of
  ``arp`` tables never see IP traffic and are not evaluated.
- A packet for this host passes every base chain registered on its path: ``ingress`` (netdev, or
  inet with a device), ``prerouting``, then ``input`` (``forward`` with ``--chain FORWARD``), in
  priority order within a hook. ``accept`` ends only the chain it is in; the packet goes on to the
  next base chain, and a ``drop`` in any of them is final. So the verdicts of the base chains are
  combined as "accepted only if every one accepts": a drop anywhere wins, then conditional
  (:func:`auditor.ruleset.sweep.combine`). A chain bound to a device (``ingress``) or a
  bridge (``bridge`` family) only sees packets arriving there, which the export does not say:
  what it drops is conditional, never a definite drop.
- In a chain the first rule that decides wins; ``jump`` returns to the next rule when the called
  chain falls off its end or says ``return``; ``goto`` does not come back (a ``return`` there, or
  its end, returns from the chain that jumped); the end of a base chain applies its ``policy``
  (``accept`` when none is given) [nft(8), VERDICT STATEMENT].
- Per rule, every match narrows the sources, for each probe (protocol, port) of the service:
  ``ip saddr``/``ip6 saddr`` with addresses, prefixes, ranges, anonymous sets, named sets
  (``@name``, with their ``elements``), ``!=``, ``<``/``>``; ``tcp``/``udp``/``sctp``/``th dport``,
  ``meta l4proto``, ``ip protocol``, ``ip6 nexthdr`` (numbers, names, ranges, sets); ``meta
  nfproto``; ``ct state`` (a NEW connection: ``established,related`` never matches, ``new``
  does, ``invalid`` does not); ``tcp flags`` (the first packet carries SYN alone); ``meta
  pkttype`` (``host``) and ``fib daddr type`` (``local`` on input, ``unicast`` on forward).
  Concatenations (``ip saddr . tcp dport @set``) and verdict maps (``vmap``) are evaluated when
  their keys are: a key on the source address, or on something known for the probe (``ct
  state``, ``meta nfproto``, ``tcp dport``). A payload match implies its protocol, as in nft:
  ``tcp dport != 22`` never matches UDP, ``ip saddr`` never matches IPv6 [nft(8), PAYLOAD
  EXPRESSION, "dependencies"].
- Source ports (``tcp``/``udp``/``th sport``, ``ct original proto-src``, also in sets,
  concatenations and verdict maps) are read as iptables' ``--sport``: a client connects from an
  unprivileged port (1024-65535) its system picks, so a match no such port meets never matches
  (``tcp sport 25 accept`` grants nothing), one every such port meets always does, and any
  other makes the rule conditional.
- ``iif lo`` / ``iifname "lo"`` never matches a connection from another host; on the input hook
  a packet has no output interface, so ``oif``/``oifname`` never match there.
- ``ip daddr`` is evaluated with ``--to``; without it a rule restricted to some destinations makes
  its sources conditional.
- Conditional (the rule's sources are neither allowed nor denied, and named in the reasons): any
  other interface, rate limits (``limit``, ``quota``, ``ct count``, meters), marks,
  times, sockets, ``fib`` lookups other than the destination type, sets filled at run time (``flags
  dynamic``, or the target of ``add @set``/``update @set``), ``queue``, NAT statements,
  ``notrack``, and anything the reader does not understand, which is also reported as
  "unsupported" with its file and line. A conditional rule whose verdict equals what the rest of
  the chain decides anyway (``limit ... reject`` before ``policy drop``) decides nothing new, and
  those addresses keep the definite verdict.
- ``include`` is not followed: the result is partial, with the include named.
- ``--service any`` asks whether a source may open every connection, any protocol and port. A
  rule whose matches say nothing of the protocol or port (no ``tcp dport``, ``th dport``, ``meta
  l4proto``, ``ip protocol``, ``icmp type``, ...) is evaluated as for any service. A rule
  restricted to some protocols or ports holds for a source when it holds for some of them: if it
  drops or rejects, part of "any" is refused and the source is denied; if it accepts, that is not
  every connection, and the source goes on to the next rule as if the rule were not there. A
  ``jump`` of restricted traffic denies where the called chain drops and grants nothing where it
  accepts (its ``return`` goes on to the next rule); what restricted traffic returns from a chain
  (``return``, or the end of a ``goto``) meets the policy in a base chain and is conditional in
  any other chain. ``tcp flags`` keep their first-packet value (SYN) and ``ct state`` its NEW
  semantics. Never a false allow; a rule pair that covers every protocol in pieces (``tcp dport
  25 accept`` then ``tcp dport 25 drop``) may read as a deny.

The families the result speaks for (``RangeSet.families``) are those an ``ip``, ``ip6`` or
``inet`` table filters on the audited hook: a file with only ``table ip filter`` says nothing
about IPv6, which the audit then reports as unknown rather than denied (nothing in the file
stops IPv6, but the file may not be the whole ruleset). ``--chain`` also takes one chain by name
(``NAME``, ``TABLE NAME`` or ``FAMILY TABLE NAME``), evaluated alone: its policy if it is a base
chain, else falling off its end lets the packet go on.

The readers of both forms call :func:`read_ruleset` and :func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.allowlists.nftables.ast import Chain, Ruleset, Table, _Problem
from auditor.allowlists.nftables.json_parser import _JsonParser
from auditor.allowlists.nftables.lower import Lowering
from auditor.allowlists.nftables.mapped import mapped_findings
from auditor.allowlists.nftables.text_parser import _TextParser
from auditor.allowlists.nftables.validate import _validate
from auditor.allowlists.nftables.values import _addresses
from auditor.errors import AddressError
from auditor.model import (
    Completeness,
    Entry,
    Finding,
    Origin,
    RangeSet,
    Segment,
    Severity,
    SourceInfo,
    Stage,
    Verdicts,
)
from auditor.ruleset import engine
from auditor.ruleset.ir import Gate, RulesetError
from auditor.ruleset.ir import Ruleset as Ruleset_

_HOOK_RANK = {"ingress": 0, "prerouting": 1, "input": 2, "forward": 2}


@dataclass(frozen=True)
class _Stage:
    table: Table
    chain: Chain
    why: str
    """Non-empty: the chain only sees some packets (a device, a bridge); its drops are
    conditional."""


def _stages(rs: Ruleset, family: int, hook: str) -> tuple[list[_Stage], bool]:
    """The base chains a packet of the family passes on its way to the hook, and whether the
    ruleset filters that way for the family at all (an ip, ip6 or inet base chain on the hook
    or on prerouting)."""
    fam = "ip" if family == 4 else "ip6"
    stages: list[tuple[tuple[int, int, int], _Stage]] = []
    covered = False
    for n, table in enumerate(rs.tables.values()):
        if table.dormant:
            continue
        for chain in table.chains.values():
            if chain.hook is None:
                continue
            why = ""
            if table.family in (fam, "inet"):
                if chain.hook in (hook, "prerouting"):
                    covered = True
                elif chain.hook == "ingress":
                    why = f"only packets arriving on {', '.join(chain.devices) or 'a device'}"
                else:
                    continue
            elif table.family == "netdev" and chain.hook == "ingress":
                why = f"only packets arriving on {', '.join(chain.devices) or 'a device'}"
            elif (
                table.family == "bridge"
                and hook == "input"
                and chain.hook
                in (
                    "prerouting",
                    "input",
                )
            ):
                why = "only frames arriving through a bridge port"
            else:
                continue
            rank = (_HOOK_RANK.get(chain.hook, 2), chain.priority, n)
            stages.append((rank, _Stage(table, chain, why)))
    stages.sort(key=lambda s: s[0])
    return [s for _, s in stages], covered


def _dynamic_sets(rs: Ruleset) -> frozenset[tuple[str, str, str]]:
    out = set(rs.dynamic)
    for table in rs.tables.values():
        for nset in table.sets.values():
            if nset.flags & {"dynamic", "timeout"}:
                out.add((table.family, table.name, nset.name))
    return frozenset(out)


def _chain_spec(rs: Ruleset, spec: str, name: str) -> tuple[Table, Chain]:
    """``--chain NAME``, ``TABLE NAME`` or ``FAMILY TABLE NAME``: one chain evaluated alone."""
    words = spec.split()
    found = []
    for table in rs.tables.values():
        for chain in table.chains.values():
            full = [table.family, table.name, chain.name]
            if words == full[-len(words) :]:
                found.append((table, chain))
    if not found:
        raise ReaderError(
            f"the ruleset has no chain {spec!r}",
            source=name,
            hint="give INPUT or FORWARD (the hooks), or a chain as NAME, 'TABLE NAME' or"
            " 'FAMILY TABLE NAME'",
        )
    if len(found) > 1:
        raise ReaderError(
            f"chain {spec!r} is in several tables: "
            + ", ".join(f"{t.label} {c.name}" for t, c in found),
            source=name,
            hint="name it as 'FAMILY TABLE NAME'",
        )
    return found[0]


def _table_families(table: Table) -> tuple[int, ...]:
    return {"ip": (4,), "ip6": (6,)}.get(table.family, (4, 6))


def evaluate(rs: Ruleset, ctx: ReadContext, data: bytes, fmt: str) -> RangeSet:
    """The RangeSet of a parsed ruleset for the service in ``ctx``."""
    name = ctx.name
    to: tuple[int, int] | None = None
    if ctx.to:
        try:
            fam, value, _ = ipspace.parse_address(ctx.to)
        except AddressError as e:
            raise ReaderError(f"--to: {e}", source=name) from None
        to = (fam, value)
    spec = (ctx.chain or "INPUT").strip()
    hook = spec.lower() if spec.lower() in ("input", "forward") else None
    dynamic = _dynamic_sets(rs)
    hooks = sorted({c.hook for t in rs.tables.values() for c in t.chains.values() if c.hook})
    verdicts: list[Verdicts] = []
    findings: list[Finding] = []
    for table in rs.tables.values():
        if table.dormant:
            findings.append(
                Finding(
                    "dormant-table",
                    Severity.INFO,
                    f"table {table.label} is dormant (flags dormant): its chains filter nothing",
                    Origin(name, table.line),
                )
            )
    findings += mapped_findings(rs, name)
    if hook is None:
        table, chain = _chain_spec(rs, spec, name)
        for family in _table_families(table):
            lowering = Lowering(family, name, to, dynamic, hooks)
            gate = Gate(
                lowering.reach(table, chain),
                _context(chain, chain.hook or "input"),
                main=True,
                alone=("accept", None),
                place=_placed(table, chain, ()),
            )
            verdicts.append(_run(Ruleset_(family, lowering.chains, (gate,)), ctx))
    else:
        for family in (4, 6):
            stages, covered = _stages(rs, family, hook)
            if not covered:
                findings.append(
                    Finding(
                        "family-not-covered",
                        Severity.INFO,
                        f"no base chain on the {hook} or prerouting hook sees IPv{family} (no"
                        f" ip{'' if family == 4 else '6'} or inet table has one): this ruleset"
                        f" does not speak for IPv{family}",
                        Origin(name),
                    )
                )
                continue
            verdicts.append(_run(_gates(stages, family, hook, name, to, dynamic, hooks), ctx))
        if not verdicts:
            raise ReaderError(
                f"no base chain on the {hook} or prerouting hook in an ip, ip6 or inet table",
                source=name,
                hint="this ruleset does not filter that traffic; choose another hook with --chain"
                " (INPUT, FORWARD) or a chain by name ('FAMILY TABLE NAME')",
            )
    info = SourceInfo.for_bytes(name, ctx.role, fmt, data, ctx.now)
    result = FirewallResult(info, verdicts, findings, list(rs.unsupported))
    result.objects = lambda: set_objects(rs, name)
    out = verdicts_rangeset(result)
    if rs.includes:
        reasons = tuple(
            f"{inc} is not followed: its rules are not evaluated" for inc in rs.includes
        )
        out = replace(out, completeness=Completeness.PARTIAL, reasons=out.reasons + reasons)
    return out


def _gates(
    stages: Sequence[_Stage],
    family: int,
    hook: str,
    name: str,
    to: tuple[int, int] | None,
    dynamic: frozenset[tuple[str, str, str]],
    hooks: Sequence[str],
) -> Ruleset_:
    """The base chains a packet passes, lowered, as gates: the audited one is the first on the
    audited hook that sees every packet (else the first that does)."""
    lowering = Lowering(family, name, to, dynamic, hooks)
    whole = [k for k, st in enumerate(stages) if not st.why]
    main = next((k for k in whole if stages[k].chain.hook == hook), whole[0])
    gates = tuple(
        Gate(
            lowering.reach(st.table, st.chain),
            _context(st.chain, st.chain.hook or hook),
            only_some=st.why,
            main=k == main,
            place=_placed(st.table, st.chain, ()),
        )
        for k, st in enumerate(stages)
    )
    return Ruleset_(family, lowering.chains, gates)


def _context(chain: Chain, hook: str) -> tuple[tuple[str, str], ...]:
    """What ``ct state`` and the hook read in a base chain."""
    return (("ct_state", _ct_state(chain)), ("hook", hook))


_CONNTRACK_PRIORITY = -200
"""NF_IP_PRI_CONNTRACK: prerouting chains below it run before conntrack, where ``ct state``
reads ``invalid`` (nf_tables' nft_ct_get_eval without a conntrack entry); on ingress always."""


def _ct_state(chain: Chain) -> str:
    hook = chain.hook or "input"
    if hook == "ingress" or (hook == "prerouting" and chain.priority < _CONNTRACK_PRIORITY):
        return "invalid"
    return "new"


def _run(rs: Ruleset_, ctx: ReadContext) -> Verdicts:
    try:
        return engine.evaluate(rs, ctx.service)
    except RulesetError as e:
        line = e.ref.origin.line if e.ref is not None else None
        raise ReaderError(e.message, source=ctx.name, line=line, hint=e.hint) from None


def _set_family(type_: str) -> int:
    """4 or 6 for a set of addresses (``type ipv4_addr``, ``typeof ip saddr``); 0 else."""
    if " . " in type_ or ":" in type_:
        return 0
    words = type_.split()
    if "ipv4_addr" in words or (words and words[0] == "ip"):
        return 4
    if "ipv6_addr" in words or (words and words[0] == "ip6"):
        return 6
    return 0


def set_objects(rs: Ruleset, name: str) -> tuple[list[Entry], list[str]]:
    """The objects ``--scope`` can name: every named set of addresses, as ``TABLE/SET`` (its
    elements as written; elements added at run time are not in the ruleset)."""
    entries: list[Entry] = []
    names: list[str] = []
    for table in rs.tables.values():
        for nset in table.sets.values():
            family = _set_family(nset.type)
            if nset.kind != "set" or not family:
                continue
            group = f"{table.name}/{nset.name}"
            names.append(group)
            origin = Origin(name, nset.line, f"set {table.label} {nset.name}")
            for elem in nset.elems:
                try:
                    intervals = _addresses(elem.key, family)
                except _Problem:
                    continue  # refused when the ruleset was read (_validate)
                entries.extend(Entry(family, a, b, origin, group) for a, b in intervals)
    return entries, names


def _placed(table: Table, chain: Chain, segments: tuple[Segment, ...]) -> Stage:
    return Stage(
        "nftables",
        table.name,
        chain.name,
        chain.hook or "",
        chain.priority,
        chain.type or "filter",
        segments,
        table.family,
    )


def read_ruleset(data: bytes, ctx: ReadContext, fmt: str) -> Ruleset:
    """The ruleset as read, not evaluated (``fmt``: ``nftables`` or ``nftables-json``)."""
    text = decode_text(data, ctx)
    if fmt == "nftables-json":
        rs = _JsonParser(text, ctx.name).parse()
    else:
        rs = _TextParser(text, ctx.name).parse()
    _validate(rs, ctx.name)
    return rs
