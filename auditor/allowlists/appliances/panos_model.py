"""The one model of a PAN-OS configuration, built from the statements of the set, brace or
XML form (:mod:`.panos_set`, :mod:`.panos_xml`).

Where a setting is: ``devices NAME`` (the XML's and the filesystem form's ``config devices
localhost.localdomain``) is dropped; ``vsys NAME`` is that virtual system, ``device-group
NAME`` that Panorama device group, ``shared`` and ``policy panorama`` the shared objects and
rules; a setting without one of these is ``vsys1``'s (a firewall with one virtual system).
What is read there: ``address``, ``address-group``, ``service``, ``service-group``,
``external-list``, ``region``, ``zone``, and the security rules of ``rulebase``,
``pre-rulebase`` and ``post-rulebase`` (with ``default-security-rules``); everything else
(network, device and log settings, NAT and decryption rules, profiles, templates) decides
nothing about which sources may connect, and is not read.

A rule is where its name is first set; its settings add up as the device adds them (a
``set`` of a member list adds members, of a single value replaces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.allowlists.appliances.panos_set import Item, Statement
from auditor.model import Origin

DEFAULT_VSYS = "vsys1"
SHARED = ("shared", "shared")
Where = tuple[str, str]
"""(``vsys``, ``device-group`` or ``shared``; its name)."""

# settings of a rule with a single value (a later set replaces it)
_SCALAR = frozenset(
    {"action", "disabled", "negate-source", "negate-destination", "rule-type", "description",
     "schedule", "log-setting", "log-start", "log-end", "icmp-unreachable", "uuid",
     "group-tag"}
)  # fmt: skip
# settings whose value is a structure of its own (one per line in an export)
_NESTED = frozenset({"profile-setting", "target", "option", "qos"})


@dataclass
class Address:
    name: str
    origin: Origin
    kind: str = ""
    """``ip-netmask``, ``ip-range``, ``ip-wildcard``, ``fqdn`` ("" when not set)."""
    value: str = ""


@dataclass
class Group:
    name: str
    origin: Origin
    static: list[str] = field(default_factory=list)
    dynamic: str | None = None


@dataclass
class Service:
    name: str
    origin: Origin
    protocol: str = ""
    port: str = ""
    source_port: str = ""


@dataclass
class ServiceGroup:
    name: str
    origin: Origin
    members: list[str] = field(default_factory=list)


@dataclass
class SecRule:
    name: str
    origin: Origin
    settings: dict[str, list[str]] = field(default_factory=dict)
    nested: dict[str, list[str]] = field(default_factory=dict)
    """Structured settings, by their first word: the words under it (``target negate no``)."""

    def get(self, key: str) -> list[str] | None:
        return self.settings.get(key)

    def one(self, key: str, default: str = "") -> str:
        got = self.settings.get(key)
        return got[-1] if got else default


@dataclass
class Where_:
    """The objects and rules of one vsys, device group, or the shared part."""

    where: Where
    origin: Origin
    addresses: dict[str, Address] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    service_groups: dict[str, ServiceGroup] = field(default_factory=dict)
    externals: dict[str, Origin] = field(default_factory=dict)
    regions: dict[str, Origin] = field(default_factory=dict)
    zones: dict[str, Origin] = field(default_factory=dict)
    rules: dict[str, dict[str, SecRule]] = field(
        default_factory=lambda: {"pre": {}, "local": {}, "post": {}}
    )
    defaults: dict[str, tuple[str, Origin]] = field(default_factory=dict)
    """``intrazone-default`` / ``interzone-default``: the action set for it, and where."""

    @property
    def label(self) -> str:
        kind, name = self.where
        return "shared" if kind == "shared" else f"{kind} {name}"


@dataclass
class Config:
    source: str
    parts: dict[Where, Where_] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    """Panorama: a device group's parent (``readonly ... device-group NAME parent-dg P``)."""

    def ancestors(self, part: Where_) -> list[Where_]:
        """A device group's parents, nearest first (a loop ends the walk)."""
        out: list[Where_] = []
        seen = {part.where[1]}
        name = part.where[1] if part.where[0] == "device-group" else None
        while name is not None and (parent := self.parents.get(name)) and parent not in seen:
            seen.add(parent)
            got = self.parts.get(("device-group", parent))
            if got is not None:
                out.append(got)
            name = parent
        return out

    def part(self, where: Where, origin: Origin) -> Where_:
        got = self.parts.get(where)
        if got is None:
            got = self.parts[where] = Where_(where, origin)
        return got

    @property
    def shared(self) -> Where_ | None:
        return self.parts.get(SHARED)


_IGNORED_TOP = frozenset(
    {"readonly", "template", "template-stack", "mgt-config", "deviceconfig", "network",
     "log-collector", "log-collector-group", "log-settings", "import", "setting",
     "panorama", "plugins", "wildfire-appliance", "display-name"}
)  # fmt: skip
_RULEBASES = {"rulebase": "local", "pre-rulebase": "pre", "post-rulebase": "post"}


def _words(items: tuple[Item, ...]) -> list[str | tuple[str, ...]]:
    return list(items)


def build(statements: list[Statement], source: str) -> Config:
    cfg = Config(source)
    for st in statements:
        _feed(cfg, st)
    return cfg


def _origin(cfg: Config, st: Statement) -> Origin:
    return Origin(cfg.source, st.line, st.path)


def _feed(cfg: Config, st: Statement) -> None:
    items = _words(st.items)
    if items[:1] == ["config"]:
        items = items[1:]
    if items[:1] == ["devices"]:
        items = items[2:]
    if not items or not isinstance(items[0], str):
        return
    head = items[0]
    if head == "readonly":
        # readonly devices NAME device-group DG parent-dg P: Panorama's hierarchy
        if items[1:2] == ["devices"]:
            items = items[3:]
        if len(items) >= 4 and items[0] == "device-group" and items[2] == "parent-dg":
            if isinstance(items[1], str) and isinstance(items[3], str):
                cfg.parents[items[1]] = items[3]
        return
    if head in ("vsys", "device-group") and len(items) >= 2 and isinstance(items[1], str):
        where: Where = (head, items[1])
        items = items[2:]
    elif head == "shared":
        where, items = SHARED, items[1:]
    elif items[:2] == ["policy", "panorama"]:
        where, items = SHARED, items[2:]
    elif head in _IGNORED_TOP:
        return
    else:
        where = ("vsys", DEFAULT_VSYS)
    part = cfg.part(where, _origin(cfg, st))
    if not items or not isinstance(items[0], str):
        return
    kind = items[0]
    name = items[1] if len(items) > 1 and isinstance(items[1], str) else None
    origin = _origin(cfg, st)
    if kind in _RULEBASES and len(items) >= 4 and items[1:3] == ["security", "rules"]:
        rule_name = items[3]
        if isinstance(rule_name, str):
            rules = part.rules[_RULEBASES[kind]]
            rule = rules.setdefault(rule_name, SecRule(rule_name, origin))
            _rule_settings(rule, items[4:])
        return
    if kind in _RULEBASES and items[1:3] == ["default-security-rules", "rules"]:
        if len(items) >= 6 and items[4] == "action" and isinstance(items[3], str):
            part.defaults[items[3]] = (str(items[5]), origin)
        return
    if name is None:
        return
    rest = items[2:]
    if kind == "address":
        obj = part.addresses.setdefault(name, Address(name, origin))
        for key, value in _pairs(rest):
            if key in ("ip-netmask", "ip-range", "ip-wildcard", "fqdn") and isinstance(value, str):
                obj.kind, obj.value = key, value
    elif kind == "address-group":
        group = part.groups.setdefault(name, Group(name, origin))
        for key, value in _pairs(rest):
            if key == "static":
                group.static += _members(value)
            elif key == "dynamic":
                group.dynamic = "dynamic"
            elif key == "filter" and isinstance(value, str):
                group.dynamic = value
    elif kind == "service":
        svc = part.services.setdefault(name, Service(name, origin))
        for key, value in _pairs(rest):
            if key == "protocol" and isinstance(value, str):
                svc.protocol = value
            elif key == "port" and isinstance(value, str):
                svc.port = value
            elif key == "source-port" and isinstance(value, str):
                svc.source_port = value
    elif kind == "service-group":
        sg = part.service_groups.setdefault(name, ServiceGroup(name, origin))
        for key, value in _pairs(rest):
            if key == "members":
                sg.members += _members(value)
    elif kind == "external-list":
        part.externals.setdefault(name, origin)
    elif kind == "region":
        part.regions.setdefault(name, origin)
    elif kind == "zone":
        part.zones.setdefault(name, origin)


def _members(value: str | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


_FLAGS = frozenset({"dynamic"})
"""Words of an object that stand alone before their own settings (``dynamic filter X``)."""
_PROTOCOLS = frozenset({"tcp", "udp", "sctp"})


def _pairs(rest: list[str | tuple[str, ...]]) -> list[tuple[str, str | tuple[str, ...] | None]]:
    """``key value`` pairs; a flag (``dynamic``) or a protocol (``protocol tcp port 25``: the
    pair ``protocol tcp``, then ``port 25``) stands with its value."""
    out: list[tuple[str, str | tuple[str, ...] | None]] = []
    k = 0
    while k < len(rest):
        key = rest[k]
        if not isinstance(key, str):
            k += 1
            continue
        if key in _FLAGS:
            out.append((key, None))
            k += 1
            continue
        value = rest[k + 1] if k + 1 < len(rest) else None
        out.append((key, value))
        k += 2
    return out


def _rule_settings(rule: SecRule, rest: list[str | tuple[str, ...]]) -> None:
    k = 0
    while k < len(rest):
        key = rest[k]
        if not isinstance(key, str):
            rule.settings.setdefault("?", []).append(" ".join(key))
            k += 1
            continue
        if key in _NESTED:
            words = [w if isinstance(w, str) else "[ " + " ".join(w) + " ]" for w in rest[k + 1 :]]
            rule.nested.setdefault(key, []).append(" ".join(words))
            return
        value = rest[k + 1] if k + 1 < len(rest) else None
        values = _members(value)
        if key in _SCALAR:
            rule.settings[key] = values[-1:] if values else []
        else:
            rule.settings.setdefault(key, []).extend(values)
        k += 2
