"""``panos``: a Palo Alto Networks PAN-OS (or Panorama) configuration, evaluated for a new
connection to the service from each source address.

Forms: the XML (``show config running`` in XML, a saved ``running-config.xml``, an XML API
``<response>``), the ``set`` form (``set cli config-output-format set``), and the brace form
the CLI prints by default; all three are read into one model (:mod:`.panos_model`).

- Security rules in order: shared pre-rules, device-group pre-rules, the vsys' own rules,
  device-group post-rules, shared post-rules; then ``intrazone-default`` (allow) and
  ``interzone-default`` (deny), or what ``default-security-rules`` sets them to.
- ``--chain FROM:TO`` is the zone pair the connection crosses (``untrust:trust``); with
  several vsys or device groups, ``--chain NAME/FROM:TO`` picks one (otherwise an address is
  decided only where they all agree). Without ``--chain``, the pair is the only one the
  configuration names, if so; else the choices are listed.
- Sources: ``any``, addresses, CIDRs and ranges written in the rule, address objects
  (``ip-netmask``, ``ip-range``), static address groups, nested (a loop is an error);
  ``fqdn`` and ``ip-wildcard`` objects, dynamic groups, external dynamic lists and regions
  make the rule conditional for every address (their members are not in the export);
  ``negate-source``. Destinations are checked against ``--to`` (else conditional).
- Services: ``any``, ``application-default`` (the application's default ports: ``smtp`` is
  tcp/25; those of other applications are not in the export: conditional), service objects
  and groups (tcp/udp/sctp, ports, source ports). Applications: ``any``; ``smtp`` matches
  the service on tcp/25; any other makes the rule conditional (App-ID decides).
- ``disabled yes`` rules are skipped; ``source-user``, ``category``, HIP profiles other than
  ``any``, ``schedule`` and ``target`` devices make the rule conditional; a setting not known
  here makes it conditional and is listed as unsupported.
- Scopes: every address object and address group (its resolved addresses), by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from auditor import ipspace
from auditor.allowlists.appliances import panos_lower as low
from auditor.allowlists.appliances.panos_model import SHARED, Config, Where_, build
from auditor.allowlists.appliances.panos_set import (
    Statement,
    brace_statements,
    is_brace_form,
    set_statements,
)
from auditor.allowlists.appliances.panos_xml import xml_statements
from auditor.allowlists.appliances.sniffing import sniff_panos as sniff_panos
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import Entry, Origin, RangeSet, SourceInfo, Verdicts
from auditor.ruleset import engine, ir

_NO_CHOICE = (None, "", "INPUT")

_SHOW_POLICY = re.compile(r"(?m)^\s+application/service\s")


def _statements(data: bytes, ctx: ReadContext) -> list[Statement]:
    if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<":
        return xml_statements(data, ctx)
    text = decode_text(data, ctx)
    if _SHOW_POLICY.search(text):
        raise ReaderError(
            "this looks like PAN-OS `show running security-policy` output, not a configuration",
            source=ctx.name,
            hint="it leaves out the address objects and services by name: give `show config "
            "running` (XML, or after `set cli config-output-format set`)",
        )
    if is_brace_form(text):
        return brace_statements(text, ctx)
    return set_statements(text, ctx)


# --- the vsys or device group, and the zone pair ------------------------------------------


def _contexts(cfg: Config) -> list[Where_]:
    """The parts a connection is evaluated in: every vsys and device group (the shared rules
    come with each), or the shared part alone when there is none."""
    own = [p for w, p in cfg.parts.items() if w != SHARED]
    if own:
        return own
    return [cfg.shared] if cfg.shared is not None else []


def _zones(cfg: Config, parts: list[Where_]) -> tuple[set[str], set[str], set[str]]:
    """Zones declared, and those the rules name in from and to (``any`` left out)."""
    declared: set[str] = set()
    froms: set[str] = set()
    tos: set[str] = set()
    for part in parts:
        declared |= set(part.zones)
        for rule in low.ordered_rules(cfg, part):
            if low._yes(rule, "disabled"):
                continue
            froms |= set(rule.get("from") or ()) - {"any"}
            tos |= set(rule.get("to") or ()) - {"any"}
    return declared, froms, tos


def choose(cfg: Config, ctx: ReadContext) -> tuple[list[Where_], low.Pair]:
    parts = _contexts(cfg)
    chain = None if ctx.chain in _NO_CHOICE else ctx.chain
    if not parts:
        raise ReaderError(
            "no vsys, device group or shared rules in the configuration",
            source=ctx.name,
            hint="give the firewall's or Panorama's whole configuration (show config running)",
        )
    pair_text = chain
    if chain is not None and "/" in chain:
        name, _, pair_text = chain.partition("/")
        picked = [p for p in parts if p.where[1] == name]
        if not picked:
            raise ReaderError(
                f"no vsys or device group {name!r} in the configuration",
                source=ctx.name,
                hint="--chain NAME/FROM:TO names one of: " + ", ".join(p.where[1] for p in parts),
            )
        parts = picked
    declared, froms, tos = _zones(cfg, parts)
    known = declared | froms | tos
    if pair_text is None:
        starts, ends = (declared | froms), (declared | tos)
        if len(starts) == 1 and len(ends) == 1:
            return parts, (next(iter(starts)), next(iter(ends)))
        if not known:
            return parts, (None, None)
        raise ReaderError(
            "the rules name several zones; which zone pair does the connection cross?",
            source=ctx.name,
            hint="give --chain FROM:TO (such as untrust:trust) with zones of the configuration: "
            + ", ".join(sorted(known)),
        )
    src, sep, dst = pair_text.partition(":")
    if not sep or not src or not dst:
        raise ReaderError(
            f"--chain {chain!r} is not a zone pair",
            source=ctx.name,
            hint="give --chain FROM:TO, the zone the connection comes from and the zone of "
            "the server (such as untrust:trust); NAME/FROM:TO picks a vsys or device group",
        )
    unknown = [z for z in (src, dst) if known and z not in known]
    if unknown:
        raise ReaderError(
            f"zone {unknown[0]!r} is not in the configuration",
            source=ctx.name,
            hint="--chain FROM:TO with zones of the configuration: " + ", ".join(sorted(known)),
        )
    return parts, (src, dst)


# --- evaluation -----------------------------------------------------------------------------


def _to(ctx: ReadContext) -> tuple[int, int] | None:
    if ctx.to is None:
        return None
    try:
        fam, value, _ = ipspace.parse_address(ctx.to)
    except AddressError as e:
        raise ReaderError(str(e), source=ctx.name, hint="--to is the server's address") from None
    return fam, value


def evaluate_part(
    cfg: Config, part: Where_, pair: low.Pair, ctx: ReadContext, unsupported: list[str]
) -> list[Verdicts]:
    res = low.Resolver(cfg, part)
    services = low.Services(res)
    to = _to(ctx)
    per_family: dict[int, list[ir.Rule]] = {4: [], 6: []}
    for rule in low.ordered_rules(cfg, part):
        for fam, rules in low.lower_rule(res, services, rule, pair, to, unsupported).items():
            per_family[fam] += rules
    end, end_ref = low.default_end(cfg, part, pair)
    return [
        engine.first_match(per_family[fam], fam, end, end_ref, ctx.service) for fam in low.FAMILIES
    ]


def _objects(cfg: Config, ctx: ReadContext) -> Callable[[], tuple[list[Entry], list[str]]]:
    """Every address object and address group by name: its resolved addresses (the
    conditional members, such as fqdn objects, hold none here)."""

    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: dict[str, None] = {}
        for part in cfg.parts.values():
            res = low.Resolver(cfg, part)
            found_in: list[tuple[str, Origin]] = [
                *((n, o.origin) for n, o in part.addresses.items()),
                *((n, g.origin) for n, g in part.groups.items()),
            ]
            for name, where in found_in:
                names[name] = None
                try:
                    found = res.address(name, where, ())
                except ReaderError:
                    continue  # (a broken object the rules do not use: no addresses)
                origin = Origin(ctx.name, where.line, where.path or name)
                for fam in low.FAMILIES:
                    entries += [Entry(fam, a, b, origin, name) for a, b in found.sure[fam]]
        return entries, list(names)

    return make


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`PanosReader` reads from a configuration."""
    statements = _statements(data, ctx)
    cfg = build(statements, ctx.name)
    low.check_loops(cfg)
    parts, pair = choose(cfg, ctx)
    unsupported: list[str] = []
    named = []
    for part in parts:
        named.append((part.label, evaluate_part(cfg, part, pair, ctx, unsupported)))
    if len(named) == 1:
        verdicts = named[0][1]
    else:
        verdicts = [
            Verdicts(
                fam,
                tuple(
                    engine.agree(
                        [(n, v[k].segments) for n, v in named],
                        "vsys or device group",
                        "name one with --chain NAME/FROM:TO",
                    )
                ),
            )
            for k, fam in enumerate(low.FAMILIES)
        ]
    info = SourceInfo.for_bytes(ctx.name, ctx.role, "panos", data, ctx.now)
    shown = f"zone pair {pair[0]}:{pair[1]}" if pair[0] is not None else "zone pair not given"
    info = SourceInfo(
        **{**info.__dict__, "detail": f"{shown}; " + ", ".join(p.label for p in parts)}
    )
    found = FirewallResult(info, verdicts, [], list(dict.fromkeys(unsupported)), _objects(cfg, ctx))
    return verdicts_rangeset(found)


def rule_order(
    data: bytes, name: str, only: str | None = None
) -> dict[tuple[int | None, str | None], int]:
    """Each security rule's place in the order it is evaluated, by where it is (line, XML
    path): for placing a rule before another. ``only``: that vsys or device group's order
    (with the shared rules it meets); else every one's, the first place kept."""
    ctx = ReadContext(name, "declared")
    cfg = build(_statements(data, ctx), name)
    out: dict[tuple[int | None, str | None], int] = {}
    for part in _contexts(cfg):
        if only is not None and part.where[1] != only:
            continue
        for k, rule in enumerate(low.ordered_rules(cfg, part)):
            out.setdefault((rule.origin.line, rule.origin.path), k)
    return out


def contexts(data: bytes, name: str) -> list[tuple[str, str]]:
    """The vsys and device groups of a configuration, as (``vsys`` or ``device-group``,
    name); empty when it has only shared rules."""
    cfg = build(_statements(data, ReadContext(name, "declared")), name)
    return [p.where for p in _contexts(cfg) if p.where != SHARED]
