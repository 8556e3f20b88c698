"""``pfsense`` (``opnsense``): the filter rules of a pfSense or OPNsense ``config.xml``,
evaluated for a new inbound connection to the service on one interface (``--chain wan``).

Both firewalls write their rules into one pf ruleset, evaluated the pf way: the first
matching ``quick`` rule decides; when none matches, the last matching rule without ``quick``
does; when no rule matches, the default deny blocks [Netgate docs, "Floating Rules",
https://docs.netgate.com/pfsense/en/latest/firewall/floating-rules.html: "Floating Rules are
parsed before rules on other interfaces. Thus, if a packet matches a floating rule and the
Quick option is active on that rule, pfSense software will not attempt to filter that packet
against any rule on any other group or interface tab", and floating rules without quick apply
"in a last match wins way"; "Rule Methodology", .../firewall/rule-methodology.html: interface
tab rules are inbound, first match wins; OPNsense manual, "Rules: Processing order",
https://docs.opnsense.org/manual/firewall.html]. So, in order: the rules pfSense adds for the
interface (``blockpriv``: RFC 1918, loopback and fc00::/7 sources blocked, quick; ``blockbogons``:
the downloaded bogon list, conditional on its fixed reserved ranges; the anti-lockout rule on
LAN), then floating rules (``<floating>yes</floating>``, ``<interface>`` a comma list, all
interfaces when empty; direction ``in`` or ``any``; ``<quick>`` decides at the first match,
without it last match among the rules without quick), then interface group rules, then the
interface's rules (quick, first match; OPNsense's ``<quick>0</quick>`` makes one last-match).

A rule: ``<type>`` pass, block or reject (``match`` decides nothing), ``<disabled/>`` skipped,
``<ipprotocol>`` inet, inet6 or inet46, ``<protocol>`` tcp, udp, tcp/udp or any other
protocol (none: any), ``<source>`` and ``<destination>`` with ``<any/>``, ``<address>`` (an
address, CIDR, range or alias) or ``<network>`` (an interface's subnet ``lan``, its address
``lanip``, ``(self)``: resolved from static interface addresses, conditional when the
firewall gets them at run time), ``<not/>``, ``<port>`` (a port, range ``25-26`` or port
alias). The destination is judged against ``--to``. A schedule (``<sched>``), ``<tagged>``,
``<os>``, TCP flags, state limits and elements this reader does not know make the rule
conditional and are listed as unsupported; gateways, logging and queues change nothing.

Each host and network alias is a scope (``--scope ALIAS``) holding its addresses (nested
aliases followed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditor import ipspace
from auditor.allowlists.appliances.pfsense_config import (
    FAMILIES,
    PORT_TYPES,
    Addrs,
    Alias,
    El,
    Iface,
    Interval,
    Resolver,
    aliases,
    interfaces,
    iter_rules,
    parse_xml,
)
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import Entry, Origin, RangeSet, RuleRef, SourceInfo, Verdicts
from auditor.ruleset import engine, ir
from auditor.ruleset.sweep import merge

# RFC 1918, loopback and unique local addresses [Netgate docs, "Interface Configuration":
# "Block private networks and loopback addresses"]
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7")
# reserved ranges every bogon list holds (RFC 6890 special purpose, not globally reachable)
_BOGON = ("0.0.0.0/8", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
          "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3", "2001:db8::/32")  # fmt: skip
_ACTIONS = {"pass": ir.ACCEPT, "block": ir.DROP, "reject": ir.DROP}
# elements of a rule that change nothing about whether a new connection passes
_QUIET = frozenset(
    {"type", "interface", "ipprotocol", "protocol", "source", "destination", "floating",
     "quick", "direction", "disabled", "descr", "tracker", "id", "created", "updated", "log",
     "statetype", "gateway", "associated-rule-id", "uuid", "category", "categories", "label",
     "dnpipe", "pdnpipe", "defaultqueue", "ackqueue", "nosync", "allowopts", "disablereplyto",
     "reply-to", "tag", "icmptype", "icmp6-type", "statetimeout", "sequence", "prio",
     "set-prio", "set-prio-low", "vlanprio", "vlanprioset", "nopfsync", "enabled", "sched",
     "tagged", "os", "max", "max-src-nodes", "max-src-conn", "max-src-states",
     "max-src-conn-rate", "max-src-conn-rates", "tcpflags1", "tcpflags2", "tcpflags_any",
     "evaluations", "states", "packets", "bytes", "lastchange", "shaper1", "shaper2",
     "adaptivestart", "adaptiveend", "overload", "replyto"}
)  # fmt: skip
_LIMITS = ("max", "max-src-nodes", "max-src-conn", "max-src-states", "max-src-conn-rate",
           "max-src-conn-rates", "overload", "adaptivestart", "adaptiveend")  # fmt: skip
_DEFAULT_CHAINS = (None, "INPUT")


@dataclass(frozen=True)
class Side:
    addrs: Addrs | None
    """None: any."""
    negated: bool
    ports: tuple[Interval, ...] | None
    port_whys: tuple[str, ...]
    text: str


class Config:
    """One config.xml, read for one interface."""

    def __init__(self, data: bytes, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.root = parse_xml(data, ctx)
        self.opnsense = self.root.tag.lower() == "opnsense"
        self.ifaces = interfaces(self.root)
        self.aliases = aliases(self.root, ctx)
        self.resolver = Resolver(self.aliases, ctx)
        for alias in self.aliases.values():  # every alias resolves (a bad one is an error)
            if alias.type in PORT_TYPES:
                self.resolver.ports(alias.name, alias.line)
            else:
                self.resolver.alias(alias.name, alias.line)
        self.groups: dict[str, tuple[str, ...]] = {}
        for entry in (self.root.find("ifgroups") or El("", 0, {})).findall("ifgroupentry"):
            self.groups[entry.get("ifname") or ""] = tuple((entry.get("members") or "").split())
        self.unsupported: list[str] = []
        self.chain = self._choose()

    # --- the interface -------------------------------------------------------------------

    def _choose(self) -> str:
        names = list(self.ifaces)
        for _, el in iter_rules(self.root):
            if not el.flag("floating"):
                for name in (el.get("interface") or "").split(","):
                    if name and name not in names and name not in self.groups:
                        names.append(name)
        asked = self.ctx.chain
        if asked in _DEFAULT_CHAINS:
            if "wan" in names:
                return "wan"
            if len(names) == 1:
                return names[0]
            raise ReaderError(
                "which interface? the config has " + (", ".join(names) or "no interface"),
                source=self.ctx.name,
                hint="name the interface the connections arrive on with --chain: "
                + (", ".join(names) or "wan"),
            )
        asked = asked or ""
        for name in names:
            iface = self.ifaces.get(name)
            if asked.lower() in (name.lower(), iface.descr.lower() if iface else name.lower()):
                return name
        raise ReaderError(
            f"no interface {asked!r} in the config",
            source=self.ctx.name,
            hint="--chain names one of: " + ", ".join(names),
        )

    # --- addresses -----------------------------------------------------------------------

    def network(self, name: str) -> Addrs:
        """``<network>``: an interface's subnet (``lan``), its address (``lanip``),
        ``(self)``; anything else is known only to the firewall."""
        if name == "(self)":
            parts = [i.address for i in self.ifaces.values()]
            for vip in (self.root.find("virtualip") or El("", 0, {})).findall("vip"):
                subnet = vip.get("subnet") or ""
                try:
                    fam, value, _ = ipspace.parse_address(subnet)
                    parts.append(Addrs({fam: ((value, value),)}))
                except AddressError:
                    parts.append(Addrs.dark(f"virtual IP {subnet!r}"))
            parts.append(Addrs({4: ((0x7F000001, 0x7F000001),), 6: ((1, 1),)}))
            return Addrs.join(parts)
        if name in self.ifaces:
            return self.ifaces[name].network
        if name.endswith("ip") and name[:-2] in self.ifaces:
            return self.ifaces[name[:-2]].address
        return Addrs.dark(f"the network {name!r} (not in config.xml)")

    def side(self, el: El | None, what: str, line: int) -> Side:
        if el is None:
            raise ReaderError(
                f"a rule without <{what}>",
                source=self.ctx.name,
                line=line,
                hint=f"every filter rule has a <{what}> element",
            )
        negated = el.flag("not")
        addrs: Addrs | None
        if el.find("any") is not None:
            addrs, text = None, "any"
        elif el.find("address") is not None:
            text = el.get("address") or ""
            addrs = self.resolver.address(text, el.line, f"{what} address")
        elif el.find("network") is not None:
            text = el.get("network") or ""
            addrs = self.network(text)
        else:
            raise ReaderError(
                f"<{what}> has none of <any/>, <address>, <network>",
                source=self.ctx.name,
                line=el.line,
                hint="give the side as the firewall writes it",
            )
        ports: tuple[Interval, ...] | None = None
        whys: tuple[str, ...] = ()
        port = el.get("port")
        if port:
            ranges, whys = self.resolver.ports(port, el.line)
            ports = ranges
            text += f" port {port}"
        return Side(addrs, negated, ports, whys, ("!" if negated else "") + text)

    def to_match(self, side: Side, family: int) -> str | None:
        """Whether the destination holds ``--to``: "" yes, None no, else why unknown."""
        if side.addrs is None:
            return None if side.negated else ""
        sure, maybe, why = side.addrs.split(family, side.negated)
        if self.ctx.to is None:
            if not sure and not maybe:
                return None
            return f"destination {side.text} (give --to)"
        try:
            fam, value, _ = ipspace.parse_address(self.ctx.to)
        except AddressError as e:
            raise ReaderError(f"--to {self.ctx.to!r}: {e}", source=self.ctx.name) from None
        if fam != family:
            if not sure and not maybe:
                return None
            return f"the IPv{family} destination {side.text} (--to gives an IPv{fam} address)"
        if any(a <= value <= b for a, b in sure):
            return ""
        if any(a <= value <= b for a, b in maybe):
            return f"destination {side.text}: {why}"
        return None

    # --- rules ---------------------------------------------------------------------------

    def applies(self, el: El) -> str | None:
        """Which part of the ruleset the rule is in for the chosen interface (``floating``,
        ``group``, ``interface``), or None when it is not on it."""
        names = [n.strip() for n in (el.get("interface") or "").split(",") if n.strip()]
        direction = (el.get("direction") or "").lower()
        if el.flag("floating"):
            if direction == "out":
                return None
            hit = not names or any(
                self.chain == n or self.chain in self.groups.get(n, ()) for n in names
            )
            return "floating" if hit else None
        if direction == "out":
            return None
        if self.chain in names:
            return "interface"
        if any(self.chain in self.groups.get(n, ()) for n in names):
            return "group"
        return None

    def quick(self, el: El) -> bool:
        if el.flag("floating"):
            return el.flag("quick")
        if self.opnsense and el.find("quick") is not None:
            return el.flag("quick")
        return True  # pfSense's interface tab rules are always quick

    def lower(self, pos: int, el: El) -> tuple[bool, dict[int, list[ir.Rule]]] | None:
        if el.flag("disabled"):
            return None
        # a rule a NAT port forward made has no type: the firewall reads it as pass
        kind = (el.get("type") or "pass").lower()
        if kind == "match":
            return None
        if kind not in _ACTIONS:
            raise ReaderError(
                f"rule type {kind!r} is not pass, block, reject or match",
                source=self.ctx.name,
                line=el.line,
                hint="the firewall writes pass, block or reject",
            )
        src = self.side(el.find("source"), "source", el.line)
        dst = self.side(el.find("destination"), "destination", el.line)
        proto = (el.get("protocol") or "any").lower()
        families = {"inet": (4,), "inet6": (6,), "inet46": (4, 6)}.get(
            (el.get("ipprotocol") or "inet").lower()
        )
        if families is None:
            raise ReaderError(
                f"ipprotocol {el.get('ipprotocol')!r} is not inet, inet6 or inet46",
                source=self.ctx.name,
                line=el.line,
                hint="the firewall writes inet, inet6 or inet46",
            )
        where = f"filter/rule[{pos}]"
        text = self.text(el, kind, proto, src, dst)
        ref = RuleRef(Origin(self.ctx.name, el.line, where), text)
        whys = self.conditions(el, where)
        protocols = None if proto == "any" else frozenset(proto.split("/"))
        traffic = ir.Traffic(
            protocols=protocols,
            dports=() if dst.ports is None else (ir.Ports(dst.ports),),
            sports=() if src.ports is None else (ir.Ports(src.ports),),
            whys=src.port_whys + dst.port_whys,
        )
        unsure = ""
        limits = [t for t in _LIMITS if el.get(t)]
        if limits and kind == "pass":
            unsure = f"state limits ({', '.join(limits)}) may refuse a connection"
            self.unsupported.append(f"{self.ctx.name}:{el.line}: {where}: {unsure}")
        action = ir.Action(_ACTIONS[kind].kind, unsure=unsure)
        out: dict[int, list[ir.Rule]] = {4: [], 6: []}
        for fam in families:
            to = self.to_match(dst, fam)
            if to is None:
                continue
            fam_whys = whys + ((to,) if to else ())
            for sources, why in self.sources(src, fam):
                rule_whys = fam_whys + ((why,) if why else ())
                out[fam].append(ir.Rule(ref, action, sources, traffic=traffic, whys=rule_whys))
        return self.quick(el), out

    def sources(self, src: Side, fam: int) -> list[tuple[tuple[Interval, ...] | None, str]]:
        """(sources, why) pieces of a rule's source in one family: the sure part, and the
        part that depends on what the firewall fills in at run time."""
        if src.addrs is None:
            return [] if src.negated else [(None, "")]
        sure, maybe, why = src.addrs.split(fam, src.negated)
        out: list[tuple[tuple[Interval, ...] | None, str]] = []
        if sure:
            out.append((sure, ""))
        if maybe:
            out.append((maybe, f"source {src.text}: {why}"))
        return out

    def conditions(self, el: El, where: str) -> tuple[str, ...]:
        whys: list[str] = []
        checks = (
            ("sched", "schedule {} (the time of day is not known)"),
            ("tagged", "matches packets tagged {} by another rule"),
            ("os", "the client's operating system ({})"),
            ("tcpflags1", "TCP flags {}"),
            ("tcpflags2", "TCP flags out of {}"),
        )
        for tag, why in checks:
            value = el.get(tag)
            if value:
                whys.append(why.format(value))
        if el.find("tcpflags_any") is not None:
            whys.append("any TCP flags (not only a connection's first packet)")
        for child in el.children:
            if child.tag not in _QUIET:
                whys.append(f"<{child.tag}> (not read)")
        for why in whys:
            self.unsupported.append(f"{self.ctx.name}:{el.line}: {where}: {why}")
        return tuple(whys)

    def text(self, el: El, kind: str, proto: str, src: Side, dst: Side) -> str:
        iface = el.get("interface") or "?"
        parts = [
            "floating" if el.flag("floating") else "",
            iface,
            kind,
            "quick" if el.flag("floating") and el.flag("quick") else "",
            el.get("ipprotocol") or "inet",
            proto,
            "from",
            src.text,
            "to",
            dst.text,
        ]
        text = " ".join(p for p in parts if p)
        descr = el.get("descr")
        return f"{text} ({descr})" if descr else text

    # --- rules pfSense adds ----------------------------------------------------------------

    def builtin(self) -> list[dict[int, list[ir.Rule]]]:
        """The rules the firewall adds for the interface before the user's rules."""
        out: list[dict[int, list[ir.Rule]]] = []
        iface = self.ifaces.get(self.chain)
        if iface is None:
            return out
        for tag, nets, what in (
            ("blockpriv", _PRIVATE, "Block private networks and loopback addresses"),
            ("blockbogons", _BOGON, "Block bogon networks"),
        ):
            el = iface.el.find(tag)
            if el is None or not iface.el.flag(tag):
                continue
            ref = RuleRef(
                Origin(self.ctx.name, el.line, f"interfaces/{self.chain}/{tag}"),
                f"{what} on {self.chain}",
            )
            whys: tuple[str, ...] = ()
            if tag == "blockbogons":
                whys = ("the bogon list is downloaded by the firewall, not in config.xml",)
                self.unsupported.append(
                    f"{self.ctx.name}:{el.line}: {self.chain} blocks bogon networks: conditional"
                    " for the reserved ranges every bogon list holds"
                )
            rules: dict[int, list[ir.Rule]] = {4: [], 6: []}
            for text in nets:
                p = ipspace.parse(text)
                rules[p.family].append(ir.Rule(ref, ir.DROP, ((p.first, p.last),), whys=whys))
            out.append(rules)
        lockout = self.anti_lockout()
        if lockout:
            out.append(lockout)
        return out

    def anti_lockout(self) -> dict[int, list[ir.Rule]]:
        """pfSense's anti-lockout rule: LAN (WAN when there is no LAN) to the firewall's LAN
        address, on the web GUI and SSH ports [Netgate docs, "Anti-lockout Rule"]."""
        target = "lan" if "lan" in self.ifaces else "wan"
        system = self.root.find("system") or El("", 0, {})
        webgui = system.find("webgui") or El("", 0, {})
        if self.chain != target or webgui.find("noantilockout") is not None:
            return {}
        https = (webgui.get("protocol") or "https") == "https"
        ports = [int(webgui.get("port") or (443 if https else 80))]
        if https and webgui.find("disablehttpredirect") is None:
            ports.append(80)
        ssh = system.find("ssh")
        if ssh is not None and ssh.flag("enable"):
            ports.append(int(ssh.get("port") or 22))
        ranges = tuple(merge([(p, p) for p in ports]))
        dst = Side(self.ifaces[target].address, False, ranges, (), f"{target}ip")
        ref = RuleRef(
            Origin(self.ctx.name, self.ifaces[target].line, "anti-lockout"),
            f"anti-lockout rule: pass {target} to {target}ip port " + ",".join(map(str, ports)),
        )
        traffic = ir.Traffic(protocols=frozenset({"tcp"}), dports=(ir.Ports(ranges),))
        out: dict[int, list[ir.Rule]] = {4: [], 6: []}
        for fam in FAMILIES:
            to = self.to_match(dst, fam)
            if to is not None:
                out[fam].append(
                    ir.Rule(ref, ir.ACCEPT, None, traffic=traffic, whys=(to,) if to else ())
                )
        return out

    def mvc_rules(self) -> dict[int, list[ir.Rule]]:
        """OPNsense's automation rules (Firewall > Automation > Filter) come before the
        interface rules and are not read: they make every verdict conditional."""
        rules = self.root.walk("OPNsense", "Firewall", "Filter", "rules")
        enabled = [r for r in (rules.findall("rule") if rules else []) if r.get("enabled") != "0"]
        if not enabled:
            return {}
        first = enabled[0]
        why = f"{len(enabled)} OPNsense automation filter rule(s) (not read)"
        self.unsupported.append(f"{self.ctx.name}:{first.line}: {why}")
        ref = RuleRef(Origin(self.ctx.name, first.line, "OPNsense/Firewall/Filter"), why)
        action = ir.Action("opaque", unsure=why)
        return {fam: [ir.Rule(ref, action)] for fam in FAMILIES}

    # --- the ruleset ---------------------------------------------------------------------

    def verdicts(self) -> list[Verdicts]:
        quick: dict[int, list[ir.Rule]] = {4: [], 6: []}
        last: dict[int, list[ir.Rule]] = {4: [], 6: []}
        for part in (self.mvc_rules(), *self.builtin()):
            for fam, rules in part.items():
                quick[fam] += rules
        ordered: dict[str, list[tuple[bool, dict[int, list[ir.Rule]]]]] = {
            "floating": [],
            "group": [],
            "interface": [],
        }
        for pos, el in iter_rules(self.root):
            where = self.applies(el)
            if where is None:
                continue
            got = self.lower(pos, el)
            if got is not None:
                ordered[where].append(got)
        for lowered in ordered.values():
            for is_quick, per_family in lowered:
                for fam, made in per_family.items():
                    (quick if is_quick else last)[fam].extend(made)
        filt = self.root.find("filter")
        end = RuleRef(
            Origin(self.ctx.name, filt.line if filt else self.root.line, "default deny"),
            f"default deny: no rule on {self.chain} passes it",
        )
        out = []
        for fam in FAMILIES:
            # the last match of the rules without quick is the first in reverse order
            chain = quick[fam] + last[fam][::-1]
            out.append(engine.first_match(chain, fam, "drop", end, self.ctx.service))
        return out

    def objects(self) -> Callable[[], tuple[list[Entry], list[str]]]:
        def make() -> tuple[list[Entry], list[str]]:
            entries: list[Entry] = []
            names: list[str] = []
            for alias in self.aliases.values():
                if alias.type in PORT_TYPES:
                    continue
                names.append(alias.name)
                origin = Origin(self.ctx.name, alias.line, f"alias {alias.name}")
                for fam, ivs in self.resolver.alias(alias.name, alias.line).known.items():
                    entries += [Entry(fam, a, b, origin, alias.name) for a, b in ivs]
            return entries, names

        return make


def alias_users(cfg: Config, alias: Alias) -> list[str]:
    """The rules on the chosen interface that pass from the alias: ``file:line text``."""
    out = []
    for pos, el in iter_rules(cfg.root):
        if cfg.applies(el) is None or el.flag("disabled") or (el.get("type") or "") != "pass":
            continue
        src = el.find("source")
        if src is not None and src.get("address") == alias.name and not src.flag("not"):
            out.append(
                f"{cfg.ctx.name}:{el.line}: filter/rule[{pos}] {el.get('descr') or ''}".rstrip()
            )
    return out


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`PfsenseReader` reads from a config.xml."""
    cfg = Config(data, ctx)
    verdicts = cfg.verdicts()
    info = SourceInfo.for_bytes(ctx.name, ctx.role, "pfsense", data, ctx.now)
    detail = f"interface {cfg.chain}"
    info = SourceInfo(**{**info.__dict__, "detail": detail})
    unsupported = list(dict.fromkeys(cfg.unsupported))
    found = FirewallResult(info, verdicts, [], unsupported, cfg.objects())
    return verdicts_rangeset(found)


__all__ = ["Config", "Iface", "alias_users", "parse"]
