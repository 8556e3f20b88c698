"""PAN-OS security rules lowered to the ruleset form (:mod:`auditor.ruleset.ir`) for one vsys
or device group and one zone pair (``--chain FROM:TO``).

Order (PAN-OS Administrator's Guide, "Security Policy"; Panorama Administrator's Guide,
"Device Group Policies": "shared pre-rules, device group pre-rules, local firewall rules,
device group post-rules, shared post-rules, default rules"): the first rule that matches
decides. A rule matches a connection when its ``from`` and ``to`` zones hold the pair (or
are ``any``), its ``rule-type`` allows the pair (``intrazone``: the same zone, ``interzone``:
two zones, ``universal`` or none: both), its ``source`` holds the client (``negate-source``:
does not), its ``destination`` the server (``--to``), its ``service`` and ``application``
the connection. ``disabled yes`` rules are skipped. Actions: ``allow``; ``deny``, ``drop``,
``reset-client``, ``reset-server``, ``reset-both`` refuse. At the end, ``intrazone-default``
allows and ``interzone-default`` denies (unless ``default-security-rules`` changes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.panos_model import (
    SHARED,
    Address,
    Config,
    Group,
    SecRule,
    Service,
    ServiceGroup,
    Where_,
)
from auditor.allowlists.base import ReaderError
from auditor.errors import AddressError
from auditor.model import Origin, Outcome, RuleRef
from auditor.ruleset import ir
from auditor.ruleset.sweep import complement, merge, minus, union

Interval = tuple[int, int]
PerFamily = dict[int, list[Interval]]
FAMILIES = (4, 6)
EVERY: dict[int, list[Interval]] = {f: [(0, ipspace.MAX[f])] for f in FAMILIES}

ACTIONS = {
    "allow": ir.ACCEPT,
    "deny": ir.DROP,
    "drop": ir.DROP,
    "reset-client": ir.DROP,
    "reset-server": ir.DROP,
    "reset-both": ir.DROP,
}
SMTP_APPS = frozenset({"smtp", "smtp-base"})
"""Applications whose default port is tcp/25 (Applipedia, "smtp")."""
_SMTP = ir.Traffic(protocols=frozenset({"tcp"}), dports=(ir.Ports(((25, 25),)),))
PREDEFINED_SERVICES = {
    # the two services every firewall has (Objects > Services, "service-http" and
    # "service-https")
    "service-http": ("tcp", "80,8080"),
    "service-https": ("tcp", "443"),
}
PREDEFINED_LISTS = frozenset(
    {"panw-bulletproof-ip-list", "panw-highrisk-ip-list", "panw-known-ip-list",
     "panw-torexit-ip-list"}
)  # fmt: skip
_ANY_VALUES = {
    "source-user": {"any"},
    "category": {"any"},
    "hip-profiles": {"any", "no-hip"},
    "source-hip": {"any", "no-hip"},
    "destination-hip": {"any", "no-hip"},
    "source-imsi": {"any"},
    "source-imei": {"any"},
    "source-nw-slice": {"any"},
}
_IGNORED = frozenset(
    {"description", "tag", "log-setting", "log-start", "log-end", "uuid", "group-tag",
     "icmp-unreachable", "audit-comment", "rule-type", "disabled", "from", "to", "source",
     "destination", "negate-source", "negate-destination", "service", "application",
     "action", "profile-setting", "option", "qos"}
)  # fmt: skip


@dataclass
class Sources:
    """What a member list holds, per family: surely, and maybe (with why)."""

    sure: PerFamily = field(default_factory=lambda: {4: [], 6: []})
    maybe: PerFamily = field(default_factory=lambda: {4: [], 6: []})
    whys: list[str] = field(default_factory=list)
    every: bool = False

    def add(self, other: Sources) -> None:
        for f in FAMILIES:
            self.sure[f] += other.sure[f]
            self.maybe[f] += other.maybe[f]
        self.whys += other.whys
        self.every = self.every or other.every


class Resolver:
    """Names of one vsys or device group, looked up there, then in the shared part."""

    def __init__(self, cfg: Config, part: Where_) -> None:
        self.cfg = cfg
        self.parts = [p for p in (part, *cfg.ancestors(part), cfg.shared) if p is not None]

    def address_object(self, name: str) -> Address | None:
        return next((p.addresses[name] for p in self.parts if name in p.addresses), None)

    def group(self, name: str) -> Group | None:
        return next((p.groups[name] for p in self.parts if name in p.groups), None)

    def service(self, name: str) -> Service | None:
        return next((p.services[name] for p in self.parts if name in p.services), None)

    def service_group(self, name: str) -> ServiceGroup | None:
        return next((p.service_groups[name] for p in self.parts if name in p.service_groups), None)

    def named(self, kind: str, name: str) -> bool:
        """An external dynamic list or region of that name is defined."""
        return any(name in getattr(p, kind) for p in self.parts)

    def addresses(self, names: Sequence[str], where: Origin) -> Sources:
        out = Sources()
        for name in names:
            out.add(self.address(name, where, ()))
        return out

    def address(self, name: str, where: Origin, stack: tuple[str, ...]) -> Sources:
        out = Sources()
        if name == "any":
            out.every = True
            for f in FAMILIES:
                out.sure[f] = list(EVERY[f])
            return out
        obj = self.address_object(name)
        if obj is not None:
            return self.object(obj)
        group = self.group(name)
        if group is not None:
            if name in stack:
                loop = " -> ".join((*stack, name))
                raise ReaderError(
                    f"address groups nest in a loop: {loop}",
                    source=str(group.origin.source),
                    line=group.origin.line,
                    hint="a group cannot hold itself; remove one of the members",
                )
            if group.dynamic is not None:
                return _maybe_all(f"dynamic address group {name} (filter {group.dynamic})")
            for member in group.static:
                out.add(self.address(member, group.origin, (*stack, name)))
            return out
        if self.named("externals", name) or name in PREDEFINED_LISTS:
            return _maybe_all(f"external dynamic list {name}")
        if self.named("regions", name) or (len(name) == 2 and name.isupper()):
            return _maybe_all(f"region {name}")
        try:
            parsed = ipspace.parse(name)
        except AddressError:
            parsed = None
        if parsed is not None and not ("-" in name and parsed.first > parsed.last):
            out.sure[parsed.family].append((parsed.first, parsed.last))
            return out
        if "-" in name and parsed is None and name[:1].isdigit():
            raise _error(
                where, f"address range {name!r} is not valid", "write FIRST-LAST, FIRST <= LAST"
            )
        raise _error(
            where,
            f"address {name!r} is not defined",
            f"define it (set address {name} ip-netmask ...) or an address-group of that name, "
            "in this vsys or device group or in shared",
        )

    def object(self, obj: Address) -> Sources:
        out = Sources()
        if obj.kind in ("ip-netmask", "ip-range"):
            try:
                parsed = ipspace.parse(obj.value, "fix")
            except AddressError as e:
                raise _error(
                    obj.origin, f"address {obj.name}: {e}", "fix the object's value"
                ) from None
            out.sure[parsed.family].append((parsed.first, parsed.last))
            return out
        if obj.kind == "fqdn":
            return _maybe_all(f"fqdn {obj.value} (address {obj.name}, resolved at run time)")
        if obj.kind == "ip-wildcard":
            return _maybe_all(f"ip-wildcard {obj.value} (address {obj.name})")
        raise _error(
            obj.origin, f"address {obj.name} has no value", "give it ip-netmask, ip-range or fqdn"
        )


def _maybe_all(why: str) -> Sources:
    out = Sources()
    for f in FAMILIES:
        out.maybe[f] = list(EVERY[f])
    out.whys.append(why)
    return out


def _error(where: Origin, message: str, hint: str) -> ReaderError:
    shown = where.source + (f" ({where.path})" if where.path and where.line is None else "")
    if where.path and where.line is not None:
        message = f"{message} ({where.path})"
    return ReaderError(message, source=shown, line=where.line, hint=hint)


# --- services and applications ------------------------------------------------------------


def _ports(text: str, where: Origin, what: str) -> tuple[Interval, ...]:
    out = []
    for part in text.split(","):
        lo_s, _, hi_s = part.strip().partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s or lo_s)
        except ValueError:
            raise _error(
                where, f"{what} {text!r} is not a port list", "write 25, 25,587 or 1024-2048"
            ) from None
        if not 0 <= lo <= hi <= 65535:
            raise _error(
                where, f"{what} {text!r} is not a port list", "ports are 0 to 65535, low-high"
            )
        out.append((lo, hi))
    return tuple(merge(out))


class Services:
    """Service names (objects, groups, the predefined ones) as traffic matches."""

    def __init__(self, res: Resolver) -> None:
        self.res = res

    def traffic(self, name: str, where: Origin, stack: tuple[str, ...]) -> list[ir.Traffic]:
        svc = self.res.service(name)
        if svc is not None:
            proto = svc.protocol
            if not proto or not svc.port:
                raise _error(
                    svc.origin,
                    f"service {name} has no protocol and port",
                    "give it: protocol tcp port 25",
                )
            dports = (ir.Ports(_ports(svc.port, svc.origin, f"service {name} port")),)
            sports: tuple[ir.Ports, ...] = ()
            if svc.source_port:
                sports = (
                    ir.Ports(_ports(svc.source_port, svc.origin, f"service {name} source-port")),
                )
            return [ir.Traffic(protocols=frozenset({proto}), dports=dports, sports=sports)]
        group = self.res.service_group(name)
        if group is not None:
            if name in stack:
                raise _error(
                    group.origin,
                    "service groups nest in a loop: " + " -> ".join((*stack, name)),
                    "a group cannot hold itself; remove one of the members",
                )
            out = []
            for member in group.members:
                out += self.traffic(member, group.origin, (*stack, name))
            return out
        if name in PREDEFINED_SERVICES:
            proto, ports = PREDEFINED_SERVICES[name]
            return [
                ir.Traffic(
                    protocols=frozenset({proto}), dports=(ir.Ports(_ports(ports, where, name)),)
                )
            ]
        raise _error(
            where,
            f"service {name!r} is not defined",
            f"define it (set service {name} protocol tcp port 25) or a service-group of that "
            "name, or use any or application-default",
        )

    def alternatives(self, rule: SecRule) -> list[ir.Traffic]:
        """The connections the rule's service and application match: sure ones, and ones
        with a why (:attr:`ir.Traffic.whys`)."""
        names = rule.get("service")
        apps = rule.get("application")
        if not names or not apps:
            # (an export always has both; without them what the rule matches is not known)
            missing = [k for k, v in (("service", names), ("application", apps)) if not v]
            return [ir.Traffic(whys=(f"the rule has no {' and no '.join(missing)}",))]
        any_app = "any" in apps
        smtp = [a for a in apps if a in SMTP_APPS]
        others = [a for a in apps if a != "any" and a not in SMTP_APPS]
        app_why = f"application {' '.join(others or smtp)} (App-ID decides which connections)"
        ports: list[ir.Traffic] = []
        out: list[ir.Traffic] = []
        for name in names:
            if name == "any":
                ports.append(ir.EVERY)
            elif name == "application-default":
                if any_app or smtp:
                    out.append(_SMTP)  # smtp's default port
                # (the default ports of the applications, tcp/25 of smtp aside, are in the
                # firewall's App-ID content, not in the configuration)
                if any_app or others or smtp:
                    shown = " ".join(["any"] if any_app else others + smtp)
                    why = f"application-default: the default ports of application {shown}"
                    out.append(ir.Traffic(whys=(why,)))
            else:
                ports += self.traffic(name, rule.origin, ())
        for t in ports:
            if any_app:
                out.append(t)
                continue
            if smtp:
                out.append(_and(t, _SMTP))
            out.append(ir.Traffic(t.protocols, t.negated, t.dports, t.sports, t.either, (app_why,)))
        return out


def _and(t: ir.Traffic, smtp: ir.Traffic) -> ir.Traffic:
    protocols = (
        smtp.protocols if t.protocols is None else (t.protocols & (smtp.protocols or frozenset()))
    )
    return ir.Traffic(protocols, False, t.dports + smtp.dports, t.sports, t.either, t.whys)


# --- rules --------------------------------------------------------------------------------


Pair = tuple[str | None, str | None]
"""The zone pair (from, to); None where it is not known."""


def rule_text(rule: SecRule) -> str:
    def show(key: str) -> str:
        got = rule.get(key)
        if got is None:
            return ""
        value = got[0] if len(got) == 1 else "[ " + " ".join(got) + " ]"
        return f" {key} {value}"

    keys = ("from", "to", "source", "negate-source", "destination", "negate-destination",
            "source-user", "application", "service", "rule-type", "action")  # fmt: skip
    return f"security rule {rule.name}:" + "".join(show(k) for k in keys)


def _zone_why(rule: SecRule, pair: Pair) -> str | None:
    """None: the rule does not apply to the pair; else why it may ("" when it surely does)."""
    whys = []
    for key, zone in (("from", pair[0]), ("to", pair[1])):
        zones = rule.get(key)
        if not zones:
            whys.append(f"the rule has no {key} zone")
        elif "any" in zones:
            continue
        elif zone is None:
            whys.append(f"{key} zone {' '.join(zones)} (give --chain FROM:TO)")
        elif zone not in zones:
            return None
    kind = rule.one("rule-type", "universal")
    if kind in ("intrazone", "interzone"):
        if pair[0] is None or pair[1] is None:
            whys.append(f"rule-type {kind} (give --chain FROM:TO)")
        elif (pair[0] == pair[1]) != (kind == "intrazone"):
            return None
    return "; ".join(whys)


def _settings_whys(rule: SecRule, unsupported: list[str]) -> list[str]:
    whys = []
    for key, values in rule.settings.items():
        if key in _ANY_VALUES:
            if not set(values) <= _ANY_VALUES[key]:
                whys.append(f"{key} {' '.join(values)}")
        elif key == "schedule":
            whys.append(f"schedule {' '.join(values)} (a time range)")
        elif key not in _IGNORED:
            whys.append(f"{key} {' '.join(values)} (not read)")
            unsupported.append(f"{rule.origin}: security rule {rule.name}: {key} (not read)")
    for words in rule.nested.get("target", []):
        if words not in ("negate no",):
            whys.append(f"target {words} (the rule applies to some firewalls only)")
    return whys


def _yes(rule: SecRule, key: str) -> bool:
    return rule.one(key, "no") == "yes"


def _to_match(
    dest: Sources, to: tuple[int, int] | None, negate: bool, names: list[str]
) -> str | None:
    """None: the rule cannot hold the server; else why it may ("" when it surely does)."""
    shown = " ".join(names)
    if to is None:
        if dest.every and not negate:
            return ""
        return f"destination {'not ' if negate else ''}{shown} (give --to)"
    fam, value = to
    inside = any(a <= value <= b for a, b in dest.sure[fam])
    maybe = not inside and any(a <= value <= b for a, b in dest.maybe[fam])
    if maybe:
        return f"destination {shown}: " + "; ".join(dest.whys)
    if inside != negate:
        return ""
    return None


def lower_rule(
    res: Resolver,
    services: Services,
    rule: SecRule,
    pair: Pair,
    to: tuple[int, int] | None,
    unsupported: list[str],
) -> dict[int, list[ir.Rule]]:
    out: dict[int, list[ir.Rule]] = {4: [], 6: []}
    if _yes(rule, "disabled"):
        return out
    zone_why = _zone_why(rule, pair)
    if zone_why is None:
        return out
    dest_names = rule.get("destination")
    if not dest_names:
        dest_why: str | None = "the rule has no destination"
    else:
        dest = res.addresses(dest_names, rule.origin)
        dest_why = _to_match(dest, to, _yes(rule, "negate-destination"), dest_names)
        if dest_why is None:
            return out
    action_word = rule.one("action")
    action = ACTIONS.get(action_word)
    if action is None:
        shown = f"action {action_word}" if action_word else "no action"
        action = ir.Action("opaque", unsure=f"{shown} (not allow, deny, drop or reset-*)")
        unsupported.append(f"{rule.origin}: security rule {rule.name}: {shown}")
    whys = [w for w in (zone_why, dest_why) if w] + _settings_whys(rule, unsupported)
    ref = RuleRef(rule.origin, rule_text(rule))
    traffics = services.alternatives(rule)
    src_names = rule.get("source")
    if not src_names:
        src = _maybe_all("the rule has no source")
    else:
        src = res.addresses(src_names, rule.origin)
    negate = _yes(rule, "negate-source")
    for fam in FAMILIES:
        bits = ipspace.BITS[fam]
        sure = merge(src.sure[fam])
        maybe = minus(merge(src.maybe[fam]), sure)
        if negate:
            sure, maybe = complement(union(sure, maybe), bits), maybe
        src_why = "; ".join(dict.fromkeys(src.whys))
        if negate and src_why:
            src_why = "negate-source: " + src_why
        for traffic in traffics:
            if whys:
                allof = union(sure, maybe)
                if allof:
                    out[fam].append(_rule(ref, action, allof, traffic, tuple(whys), bits))
                continue
            if sure:
                out[fam].append(_rule(ref, action, sure, traffic, (), bits))
            if maybe:
                out[fam].append(_rule(ref, action, maybe, traffic, (src_why,), bits))
    return out


def _rule(
    ref: RuleRef,
    action: ir.Action,
    sources: list[Interval],
    traffic: ir.Traffic,
    whys: tuple[str, ...],
    bits: int,
) -> ir.Rule:
    every = sources == [(0, (1 << bits) - 1)]
    return ir.Rule(ref, action, None if every else tuple(sources), traffic=traffic, whys=whys)


def ordered_rules(cfg: Config, part: Where_) -> list[SecRule]:
    """Shared pre-rules, the part's pre-rules, its own rules, its post-rules, shared
    post-rules."""
    shared = cfg.shared if part.where != SHARED else None
    parents = cfg.ancestors(part)
    out: list[SecRule] = []
    if shared is not None:
        out += shared.rules["pre"].values()
    for p in reversed(parents):
        out += p.rules["pre"].values()
    for base in ("pre", "local", "post"):
        out += part.rules[base].values()
    for p in parents:
        out += p.rules["post"].values()
    if shared is not None:
        out += shared.rules["post"].values()
    return out


def check_loops(cfg: Config) -> None:
    """A static address group that holds itself, through any nesting, is an error (the
    device refuses to commit it), whether or not a rule uses it."""
    for part in cfg.parts.values():
        res = Resolver(cfg, part)
        done: set[str] = set()
        for name in part.groups:
            _visit(res, name, (), done)


def _visit(res: Resolver, name: str, stack: tuple[str, ...], done: set[str]) -> None:
    if res.address_object(name) is not None:
        return
    group = res.group(name)
    if group is None or name in done:
        return
    if name in stack:
        raise _error(
            group.origin,
            "address groups nest in a loop: " + " -> ".join((*stack, name)),
            "a group cannot hold itself; remove one of the members",
        )
    for member in group.static:
        _visit(res, member, (*stack, name), done)
    done.add(name)


def default_end(cfg: Config, part: Where_, pair: Pair) -> tuple[Outcome, RuleRef]:
    """The outcome of the default rule for the pair (``conditional`` when the pair is not
    known and the two defaults differ), and the rule shown."""
    found: dict[str, tuple[str, Origin | None]] = {
        "intrazone-default": ("allow", None),
        "interzone-default": ("deny", None),
    }
    for p in (cfg.shared, *reversed(cfg.ancestors(part)), part):
        if p is not None:
            for name, (action, origin) in p.defaults.items():
                if name in found:
                    found[name] = (action, origin)

    def ref(name: str, why: str = "") -> RuleRef:
        action, origin = found[name]
        where = origin or Origin(cfg.source)
        implied = "" if origin else " (implied)"
        return RuleRef(where, f"{name}: action {action}{implied}", why)

    outcome: dict[str, Outcome] = {
        k: ("accept" if a == "allow" else "drop") for k, (a, _) in found.items()
    }
    if pair[0] is None or pair[1] is None:
        if outcome["intrazone-default"] == outcome["interzone-default"]:
            return outcome["interzone-default"], ref("interzone-default")
        why = "the zone pair decides: give --chain FROM:TO"
        return "conditional", ref("interzone-default", why)
    name = "intrazone-default" if pair[0] == pair[1] else "interzone-default"
    return outcome[name], ref(name)
