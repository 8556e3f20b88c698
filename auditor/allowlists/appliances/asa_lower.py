"""The Cisco ASA configuration (:mod:`auditor.allowlists.appliances.asa`) lowered to the ruleset
intermediate form and evaluated: each extended entry one rule per service alternative and
family, the chain the interface chosen with ``--chain`` meets (its access list, the global one,
the implicit deny; or the security levels), and the outbound access lists on the way out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.asa_config import Ace, Acl, Binding, Config, Interface
from auditor.allowlists.appliances.asa_objects import (
    FAMILIES,
    Alt,
    EntryParser,
    Net,
    Parsed,
    Resolver,
)
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import (
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Severity,
    SourceInfo,
)
from auditor.ruleset import engine, ir

# --- the chains -------------------------------------------------------------------------------


@dataclass
class Selection:
    """What a connection coming in meets: the access lists in order, and the end."""

    label: str
    ingress: Interface | None
    acls: list[Acl]
    end: tuple[Outcome, RuleRef]
    notes: list[tuple[str, int]] = field(default_factory=list)


_UNBOUND = (
    "access-list {acl} is bound by no access-group; it is evaluated as if bound to the"
    " interface the connections come in on"
)


def _to(ctx: ReadContext) -> tuple[int, int] | None:
    if ctx.to is None:
        return None
    try:
        fam, value, _ = ipspace.parse_address(ctx.to)
    except AddressError as e:
        raise ReaderError(f"--to {ctx.to!r}: {e}", source=ctx.name) from None
    return fam, value


def _chosen(ctx: ReadContext, cfg: Config) -> str | None:
    chain = ctx.chain
    if chain == "INPUT" and chain not in cfg.interfaces and chain not in cfg.acls:
        return None  # the default of --chain, which names nothing here
    return chain


def choices(cfg: Config) -> str:
    parts = []
    if cfg.interfaces or cfg.bound_in:
        names = list(dict.fromkeys([*cfg.interfaces, *cfg.bound_in]))
        parts.append(
            "interfaces "
            + ", ".join(
                f"{n} (access-list {cfg.bound_in[n].acl})" if n in cfg.bound_in else n
                for n in names
            )
        )
    acls = [a.name for a in cfg.acls.values() if a.entries]
    if acls:
        parts.append("access lists " + ", ".join(acls))
    return "; ".join(parts) or "none"


def _interface(cfg: Config, name: str) -> Interface:
    iface = cfg.interfaces.get(name)
    if iface is None:
        binding = cfg.bound_in.get(name) or cfg.bound_out.get(name)
        iface = Interface("", binding.line if binding else 0, name)
    return iface


def _acl(cfg: Config, binding: Binding) -> Acl:
    acl = cfg.acls.get(binding.acl)
    if acl is None:
        raise cfg.error(
            f"access-group binds access-list {binding.acl}, which has no entry",
            binding.line,
            "give the whole configuration (show running-config), with the access list",
        )
    return acl


def select(cfg: Config, ctx: ReadContext) -> Selection:
    chain = _chosen(ctx, cfg)
    glob = cfg.bound_global
    if chain is not None:
        if chain in cfg.interfaces or chain in cfg.bound_in:
            return for_interface(cfg, ctx, _interface(cfg, chain))
        if chain in cfg.acls:
            ifaces = [n for n, b in cfg.bound_in.items() if b.acl == chain]
            if len(ifaces) == 1:
                return for_interface(cfg, ctx, _interface(cfg, ifaces[0]))
            acl = cfg.acls[chain]
            acls = [acl]
            if glob is not None and glob.acl != chain:
                acls.append(_acl(cfg, glob))
            notes = []
            if not ifaces and (glob is None or glob.acl != chain):
                notes.append((_UNBOUND.format(acl=chain), acl.line))
            last = acls[-1]
            end = RuleRef(
                cfg.origin(last.line), f"implicit deny at the end of access-list {last.name}"
            )
            return Selection(f"access-list {chain}", None, acls, ("drop", end), notes)
        raise ReaderError(
            f"no interface or access list {chain!r} in the configuration",
            source=ctx.name,
            hint="--chain names the interface the connections come in on (its nameif) or an"
            f" access list: {choices(cfg)}",
        )
    if len(cfg.bound_in) == 1:
        return for_interface(cfg, ctx, _interface(cfg, next(iter(cfg.bound_in))))
    if len(cfg.bound_in) > 1:
        raise ReaderError(
            "several interfaces have an inbound access list; which one do the connections come"
            " in on?",
            source=ctx.name,
            hint=f"name it with --chain: {choices(cfg)}",
        )
    if glob is not None:
        acl = _acl(cfg, glob)
        end = RuleRef(
            cfg.origin(glob.line), f"implicit deny after the global access-list {acl.name}"
        )
        return Selection(f"access-list {acl.name} (global)", None, [acl], ("drop", end))
    acls = [a for a in cfg.acls.values() if a.entries]
    if len(acls) == 1:
        acl = acls[0]
        end = RuleRef(cfg.origin(acl.line), f"implicit deny at the end of access-list {acl.name}")
        note = (_UNBOUND.format(acl=acl.name), acl.line)
        return Selection(f"access-list {acl.name}", None, [acl], ("drop", end), [note])
    if acls or len(cfg.interfaces) > 1:
        raise ReaderError(
            "the configuration binds no access list with access-group; which interface or"
            " access list do the connections come in on?",
            source=ctx.name,
            hint=f"name it with --chain: {choices(cfg)}",
        )
    why = (
        "the configuration binds no access list and names no interface to decide by security"
        " level (is it the whole running-config?)"
    )
    end = RuleRef(cfg.origin(None), "no access list", why)
    return Selection("no access list", None, [], ("conditional", end))


def for_interface(cfg: Config, ctx: ReadContext, iface: Interface) -> Selection:
    name = iface.nameif
    label = f"interface {name}"
    binding = cfg.bound_in.get(name)
    glob = cfg.bound_global
    acls = []
    if binding is not None:
        acls.append(_acl(cfg, binding))
    if glob is not None:
        acls.append(_acl(cfg, glob))
    if acls:
        if glob is not None:
            line, text = glob.line, f"implicit deny after the global access-list {glob.acl}"
        elif binding is not None:
            line, text = binding.line, f"implicit deny at the end of access-list {binding.acl}"
        return Selection(label, iface, acls, ("drop", RuleRef(cfg.origin(line), text)))
    return Selection(label, iface, [], security_levels(cfg, ctx, iface))


def egress(
    cfg: Config, ctx: ReadContext, ingress: Interface | None
) -> tuple[list[Interface], bool]:
    """The interfaces the server may be behind, and whether that is certain (``--to`` is in
    one of their subnets)."""
    others = [i for n, i in cfg.interfaces.items() if ingress is None or n != ingress.nameif]
    to = _to(ctx)
    if to is not None:
        fam, value = to
        hit = [i for i in others if any(f == fam and a <= value <= b for f, a, b in i.networks)]
        if hit:
            return hit, len(hit) == 1
    return others, False


def security_levels(cfg: Config, ctx: ReadContext, iface: Interface) -> tuple[Outcome, RuleRef]:
    """No access list applies: the security levels of the interfaces decide."""
    level = iface.security_level
    origin = cfg.origin(iface.line or None)
    candidates, sure = egress(cfg, ctx, iface)
    head = f"interface {iface.nameif} (security-level {level}) has no access list"
    if not candidates:
        why = "the configuration names no other interface the server could be behind"
        return "conditional", RuleRef(origin, head, why)
    outcomes: dict[Outcome, list[str]] = {}
    for c in candidates:
        other = c.security_level
        ok = level > other or (level == other and cfg.same_security)
        outcomes.setdefault("accept" if ok else "drop", []).append(f"{c.nameif} ({other})")
    if len(outcomes) == 1:
        outcome = next(iter(outcomes))
        to = ", ".join(next(iter(outcomes.values())))
        verb = "allowed" if outcome == "accept" else "denied"
        text = f"{head}: traffic to {to} is {verb} by security level"
        return outcome, RuleRef(origin, text)
    said = "; ".join(
        f"{'allowed' if o == 'accept' else 'denied'} to {', '.join(v)}" for o, v in outcomes.items()
    )
    why = f"which interface the server is behind ({said}; give --to)"
    if sure:
        why = f"--to is in several interfaces' subnets ({said})"
    return "conditional", RuleRef(origin, head, why)


# --- lowering ---------------------------------------------------------------------------------


class Lowering:
    def __init__(self, cfg: Config, ctx: ReadContext, res: Resolver) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.parser = EntryParser(res)
        self.to = _to(ctx)
        self.traffics: dict[Alt, ir.Traffic] = {}
        self.entries: dict[int, Parsed] = {}

    def entry(self, ace: Ace) -> Parsed:
        got = self.entries.get(ace.line)
        if got is None:
            got = self.entries[ace.line] = self.parser.parse(ace)
        return got

    def traffic(self, alt: Alt) -> ir.Traffic:
        got = self.traffics.get(alt)
        if got is None:
            got = self.traffics[alt] = ir.Traffic(
                protocols=alt.protocols, sports=alt.sports, dports=alt.dports, whys=alt.whys
            )
        return got

    def destination(self, dest: Net, fam: int) -> str | None:
        """None: the entry never matches a connection to the server; else what it depends
        on ("" when nothing)."""
        sure, whys = dest.sure[fam], dest.whys[fam]
        if dest.whole(fam):
            return ""
        if not sure and not whys:
            return None
        if self.to is None:
            shown = ", ".join(ipspace.format_interval(fam, a, b) for a, b in sure[:3])
            shown += "..." if len(sure) > 3 else ""
            return f"destination {shown or '; '.join(whys)} (give --to)"
        tfam, value = self.to
        if tfam != fam:
            return f"the IPv{fam} destination address (--to gives an IPv{tfam} address)"
        if any(a <= value <= b for a, b in sure):
            return ""
        if whys:
            return "; ".join(whys)
        return None

    def rules(self, acls: Sequence[Acl], fam: int) -> list[ir.Rule]:
        out: list[ir.Rule] = []
        for acl in acls:
            for ace in acl.entries:
                e = self.entry(ace)
                if e.inactive:
                    continue
                dest = self.destination(e.destination, fam)
                if dest is None:
                    continue
                sources = e.source.sure[fam]
                swhys = e.source.whys[fam]
                if not sources and not swhys:
                    continue
                ref = RuleRef(self.cfg.origin(ace.line), ace.text)
                whys = tuple(w for w in (*e.whys, dest) if w)
                for alt in e.alts:
                    traffic = self.traffic(alt)
                    if sources:
                        out.append(
                            ir.Rule(ref, e.action, tuple(sources), traffic=traffic, whys=whys)
                        )
                    if swhys:
                        out.append(
                            ir.Rule(ref, e.action, None, traffic=traffic, whys=(*whys, *swhys))
                        )
        return out


def evaluate_config(cfg: Config, data: bytes, ctx: ReadContext) -> RangeSet:
    res = Resolver(cfg, ctx)
    reported: set[tuple[str, int]] = set()
    for name, group in list(cfg.groups.items()):
        if group.network:
            for missing, line in res.net(name, group.line).missing:
                if (missing, line) not in reported:
                    reported.add((missing, line))
                    cfg.warn("undefined", f"{missing} is not defined (used in {name})", line)
    sel = select(cfg, ctx)
    low = Lowering(cfg, ctx, res)
    verdicts = []
    outs, sure = egress(cfg, ctx, sel.ingress)
    out_bound = [(i, cfg.bound_out[i.nameif]) for i in outs if i.nameif in cfg.bound_out]
    for fam in FAMILIES:
        end_outcome, end_ref = sel.end
        chains = {
            "in": ir.Chain("in", tuple(low.rules(sel.acls, fam)), end_ref, policy=end_outcome)
        }
        gates = [ir.Gate("in", main=True)]
        for iface, binding in out_bound:
            acl = _acl(cfg, binding)
            key = f"out:{iface.nameif}"
            ref = RuleRef(
                cfg.origin(binding.line),
                f"implicit deny at the end of access-list {acl.name} ({binding.text})",
            )
            chains[key] = ir.Chain(key, tuple(low.rules([acl], fam)), ref, policy="drop")
            only = (
                "" if sure else f"the server may not be behind interface {iface.nameif} (give --to)"
            )
            gates.append(ir.Gate(key, only_some=only))
        rs = ir.Ruleset(fam, chains, tuple(gates))
        try:
            verdicts.append(engine.evaluate(rs, ctx.service))
        except ir.RulesetError as e:
            raise ReaderError(e.message, source=ctx.name, hint=e.hint) from None
    findings = list(cfg.findings) + cfg.summary()
    for note, line in sel.notes:
        findings.append(Finding("unbound", Severity.INFO, note, cfg.origin(line)))
    if cfg.nat:
        findings.append(
            Finding(
                "nat",
                Severity.INFO,
                f"{len(cfg.nat)} NAT statement(s): access lists name real addresses (ASA 8.3"
                " and later), so --to is the server's real (inside) address",
                cfg.origin(cfg.nat[0]),
            )
        )
    for acl in sel.acls:
        if acl.other:
            cfg.unsupported.append(f"access-list {acl.name}: {', '.join(acl.other)} entries")
    info = SourceInfo.for_bytes(ctx.name, ctx.role, "asa", data, ctx.now)
    info = SourceInfo(**{**info.__dict__, "detail": sel.label})
    unsupported = list(dict.fromkeys(cfg.unsupported))
    result = FirewallResult(info, verdicts, findings, unsupported, scopes(cfg, res))
    return verdicts_rangeset(result)


def scopes(cfg: Config, res: Resolver) -> Callable[[], tuple[list[Entry], list[str]]]:
    """Every network object and object-group as a scope, holding its addresses."""

    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: list[str] = []
        for name, group in cfg.groups.items():
            if not group.network:
                continue
            names.append(name)
            for fam, a, b, line, owner in res.items(name, set()):
                # a nested group's or object's member says so (the path): a prune of this
                # group cannot remove it with `no network-object` (rules/asa.py keeps it)
                held = cfg.groups[owner]
                path = None if owner == name else f"{_kind(held.kind)} {owner}"
                entries.append(Entry(fam, a, b, Origin(cfg.name, line, path), name))
        return entries, names

    return make


def _kind(kind: str) -> str:
    return kind if kind.startswith("object") else f"object-group {kind}"


__all__ = ["evaluate_config", "select"]
