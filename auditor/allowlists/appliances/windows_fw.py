"""``windows-firewall``: Windows Defender Firewall rules as admins export them, evaluated for a
new inbound connection to the service. One reader for both forms, told apart by content:

- **CSV** from PowerShell: one row per rule with at least the columns ``Name``,
  ``DisplayName``, ``Enabled``, ``Direction``, ``Action``, ``Profile`` (Get-NetFirewallRule)
  and ``RemoteAddress``, ``LocalAddress`` (Get-NetFirewallAddressFilter), ``Protocol``,
  ``LocalPort`` (Get-NetFirewallPortFilter), lists joined with ``,``; optional ``RemotePort``,
  ``OverrideBlockRules`` (Get-NetFirewallSecurityFilter), ``Program``, ``Service``
  (Get-NetFirewallApplicationFilter), ``EdgeTraversalPolicy``. :data:`PIPELINE` writes it.
- **netsh** text: ``netsh advfirewall firewall show rule name=all verbose`` (in English):
  blocks of ``Rule Name:``, a ``----`` line, then ``Enabled:``, ``Direction:``, ``Profiles:``,
  ``LocalIP:``, ``RemoteIP:``, ``Protocol:``, ``LocalPort:``, ``RemotePort:``, ``Edge
  traversal:``, ``Program:``, ``Service:``, ``InterfaceTypes:``, ``Security:``, ``Action:``.

Semantics (Microsoft Learn, "[MS-FASP] 2.2.34 FW_RULE_ACTION",
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-fasp/702e3c23-c9d8-43db-8380-b4c670dd7f7d:
"Allow-bypass rules take precedence over block rules, and block rules take precedence over
allow rules"; "Windows Firewall rules", https://learn.microsoft.com/windows/security/
operating-system-security/network-security/windows-firewall/rules: inbound traffic no rule
allows is blocked by default; New-NetFirewallRule, https://learn.microsoft.com/powershell/
module/netsecurity/new-netfirewallrule, for the address, port and profile forms):

- enabled inbound rules only; rules have no order: a block rule that matches wins over every
  allow rule; an allow-bypass rule (``Action: Bypass``, ``OverrideBlockRules`` True) or an
  allow rule that requires IPsec (``Security`` other than NotRequired) matches only
  authenticated connections: conditional; what no rule allows is blocked (the default
  inbound action; the profile settings are not in these exports: Get-NetFirewallProfile).
- ``RemoteAddress``: ``Any``, addresses, CIDRs, ``address/mask``, ranges ``a-b``; the keywords
  ``LocalSubnet``, ``Internet``, ``Intranet``, ``DNS``, ``DHCP``, ``DefaultGateway``,
  ``WINS``, ``RemoteCorpNetwork``, ``PlayToDevice`` (and any other word) are conditional,
  named. ``LocalAddress`` is checked against ``--to`` (conditional without it).
- ``Protocol`` ``TCP``/``6``, ``UDP``/``17``, ``Any``; ``LocalPort`` lists and ranges,
  ``Any``; ``RPC``, ``RPCEPMap``, ``IPHTTPS`` and other keywords are conditional; a program,
  service or interface type makes the rule conditional (which one listens is not exported).
- Profiles Domain, Private, Public (``Any``): ``--chain domain|private|public`` picks the
  profile of the server's network; without it, addresses the profiles decide differently
  are conditional, naming what each profile does.
- Rule names and display names are the scopes (``--scope NAME``): the addresses of the
  enabled inbound allow rules.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditor import ipspace
from auditor.allowlists.appliances.sniffing import NETSH as _NETSH
from auditor.allowlists.appliances.sniffing import sniff_windows as sniff_windows
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import (
    Entry,
    Finding,
    Origin,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
    SourceInfo,
    Verdicts,
)
from auditor.ruleset import engine, ir
from auditor.ruleset.sweep import full, merge

Interval = tuple[int, int]
PROFILES = ("domain", "private", "public")
REQUIRED = (
    "Name",
    "DisplayName",
    "Enabled",
    "Direction",
    "Action",
    "Profile",
    "RemoteAddress",
    "LocalAddress",
    "Protocol",
    "LocalPort",
)
PIPELINE = (
    "Get-NetFirewallRule -Direction Inbound | ForEach-Object { "
    "$a = $_ | Get-NetFirewallAddressFilter; $p = $_ | Get-NetFirewallPortFilter; "
    "$s = $_ | Get-NetFirewallSecurityFilter; $f = $_ | Get-NetFirewallApplicationFilter; "
    "[pscustomobject]@{ Name = $_.Name; DisplayName = $_.DisplayName; Enabled = $_.Enabled; "
    "Direction = $_.Direction; Action = $_.Action; Profile = $_.Profile; "
    "RemoteAddress = $a.RemoteAddress -join ','; LocalAddress = $a.LocalAddress -join ','; "
    "Protocol = $p.Protocol; LocalPort = $p.LocalPort -join ','; "
    "RemotePort = $p.RemotePort -join ','; OverrideBlockRules = $s.OverrideBlockRules; "
    "Program = $f.Program; Service = $f.Service } } | "
    "Export-Csv -NoTypeInformation -Encoding UTF8 firewall-rules.csv"
)
"""The PowerShell pipeline that writes the CSV this reader reads."""
KEYWORDS = frozenset(
    k.lower()
    for k in (
        "LocalSubnet", "LocalSubnet4", "LocalSubnet6", "Internet", "Intranet",
        "IntranetRemoteAccess", "DNS", "DHCP", "DefaultGateway", "WINS", "RemoteCorpNetwork",
        "PlayToDevice", "CaptivePortal", "Ply2Renders",
    )
)  # fmt: skip
_ANY = frozenset({"any", "*", ""})
_PORT_WORDS = re.compile(r"(?i)rpc|rpcepmap|iphttps\w*|teredo|playtodiscovery|mdns|dhcp")
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmpv4", "58": "icmpv6"}


@dataclass(frozen=True)
class WinRule:
    """One rule, as either export shows it."""

    line: int
    text: str
    name: str
    display: str
    enabled: str
    direction: str
    action: str
    profiles: str
    remote: str
    local: str
    protocol: str
    local_port: str
    remote_port: str = "Any"
    override: str = ""
    security: str = ""
    program: str = ""
    service: str = ""
    interfaces: str = ""


def _error(ctx: ReadContext, line: int | None, message: str, hint: str | None) -> ReaderError:
    return ReaderError(message, source=ctx.name, line=line, hint=hint)


@dataclass(frozen=True)
class _Cells:
    row: list[str]
    cols: dict[str, int]
    line: int
    ctx: ReadContext

    def get(self, name: str, default: str = "") -> str:
        k = self.cols.get(name)
        value = self.row[k].strip() if k is not None else default
        if value.startswith("System.") and value.endswith("[]"):
            raise _error(
                self.ctx,
                self.line,
                f"the {name} cell is {value!r}: Export-Csv wrote a list's type, not its items",
                f"join the lists with -join ',': {PIPELINE}",
            )
        return value


def parse_csv(text: str, ctx: ReadContext) -> list[WinRule]:
    lines = text.split("\n")
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].startswith("#TYPE")):
        skip += 1
    reader = csv.reader(io.StringIO("\n".join(lines[skip:])))
    try:
        header = next(reader)
    except StopIteration:
        raise _error(ctx, 1, "the CSV is empty", f"write it with: {PIPELINE}") from None
    cols = {c.strip(): k for k, c in enumerate(header)}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise _error(
            ctx,
            skip + 1,
            f"the CSV lacks the column(s) {', '.join(missing)}",
            f"write it with: {PIPELINE}",
        )
    out = []
    done = 1
    for row in reader:
        line = skip + done + 1
        done = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise _error(ctx, line, f"the row has {len(row)} cells, the header {len(header)}", None)

        cells = _Cells(row, cols, line, ctx)
        cell = cells.get
        out.append(
            WinRule(
                line,
                ",".join(row),
                cell("Name"),
                cell("DisplayName"),
                cell("Enabled"),
                cell("Direction"),
                cell("Action"),
                cell("Profile"),
                cell("RemoteAddress"),
                cell("LocalAddress"),
                cell("Protocol"),
                cell("LocalPort"),
                cell("RemotePort", "Any"),
                cell("OverrideBlockRules"),
                "",
                cell("Program"),
                cell("Service"),
                cell("InterfaceType"),
            )
        )
    return out


_NETSH_KEYS = {
    "enabled": "enabled",
    "direction": "direction",
    "profiles": "profiles",
    "localip": "local",
    "remoteip": "remote",
    "protocol": "protocol",
    "localport": "local_port",
    "remoteport": "remote_port",
    "program": "program",
    "service": "service",
    "interfacetypes": "interfaces",
    "security": "security",
    "action": "action",
}
_NETSH_OTHER = frozenset(
    {"description", "grouping", "edge traversal", "rule source", "type", "code",
     "remotecomputergroup", "remoteusergroup", "localusergroup", "interfaces"}
)  # fmt: skip


def parse_netsh(text: str, ctx: ReadContext) -> list[WinRule]:
    out: list[WinRule] = []
    fields: dict[str, str] = {}
    start = 0
    shown: list[str] = []

    def close() -> None:
        if not fields:
            return
        for need in ("enabled", "direction", "action", "remote"):
            if need not in fields:
                raise _error(
                    ctx,
                    start,
                    f"the rule {fields.get('name', '?')!r} has no {need} line",
                    "give the whole output of netsh advfirewall firewall show rule name=all"
                    " verbose, in English",
                )
        out.append(
            WinRule(
                start,
                "; ".join(shown),
                fields["name"],
                fields["name"],
                fields["enabled"],
                fields["direction"],
                fields["action"],
                fields.get("profiles", "Any"),
                fields["remote"],
                fields.get("local", "Any"),
                fields.get("protocol", "Any"),
                fields.get("local_port", "Any"),
                fields.get("remote_port", "Any"),
                "",
                fields.get("security", ""),
                fields.get("program", ""),
                fields.get("service", ""),
                fields.get("interfaces", ""),
            )
        )

    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or set(stripped) == {"-"} or stripped == "Ok.":
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon:
            raise _error(ctx, number, f"cannot read {stripped[:60]!r}", "lines are Key: value")
        if key == "rule name":
            close()
            fields, start, shown = {"name": value.strip()}, number, [stripped]
            continue
        if not fields:
            raise _error(ctx, number, f"{stripped[:60]!r} before the first Rule Name:", None)
        if key in _NETSH_KEYS:
            fields[_NETSH_KEYS[key]] = value.strip()
            if key not in ("enabled", "direction"):
                shown.append(f"{line.split(':', 1)[0].strip()}: {value.strip()}")
        elif key not in _NETSH_OTHER:
            raise _error(
                ctx,
                number,
                f"unknown field {line.split(':', 1)[0].strip()!r}",
                "give the output of netsh advfirewall firewall show rule name=all verbose, run"
                " with an English display language",
            )
    close()
    if not out:
        raise _error(ctx, 1, "no rule in the netsh output", None)
    return out


@dataclass(frozen=True)
class Lowered:
    """One rule in the ruleset form per family, and what places it."""

    rule: WinRule
    rank: int
    """0: allow-bypass (before the blocks), 1: block, 2: allow."""
    profiles: frozenset[str]
    rules: dict[int, list[ir.Rule]]
    sure: dict[int, list[Interval]]


def _items(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;\s]+", text) if t.strip()]


def _address(item: str, rule: WinRule, ctx: ReadContext) -> tuple[int, Interval]:
    text = item
    base, slash, mask = item.partition("/")
    if slash and "." in mask:  # 192.0.2.0/255.255.255.0
        try:
            _, value, _ = ipspace.parse_address(mask)
        except AddressError as e:
            raise _error(ctx, rule.line, f"{item!r}: {e}", None) from None
        plen = bin(value).count("1")
        if value != ((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1):
            raise _error(ctx, rule.line, f"{item!r} has a mask that is not contiguous", None)
        text = f"{base}/{plen}"
    try:
        parsed = ipspace.parse(text)
    except AddressError as e:
        raise _error(
            ctx, rule.line, f"{item!r}: {e}", "addresses, CIDRs, a/mask, ranges a-b, or Any"
        ) from None
    return parsed.family, (parsed.first, parsed.last)


def _addresses(
    text: str, rule: WinRule, ctx: ReadContext, what: str
) -> tuple[dict[int, list[Interval]], list[str]]:
    """Per family the addresses, and the keywords (whose addresses are not exported)."""
    out: dict[int, list[Interval]] = {4: [], 6: []}
    words: list[str] = []
    items = _items(text)
    if not items or any(i.lower() in _ANY for i in items):
        return {4: full(32), 6: full(128)}, []
    for item in items:
        if item.lower() in KEYWORDS or re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", item):
            words.append(item)
            continue
        family, iv = _address(item, rule, ctx)
        out[family].append(iv)
    return {f: merge(v) for f, v in out.items()}, words


def _ports(text: str, rule: WinRule, ctx: ReadContext) -> tuple[ir.Ports | None, list[str]]:
    items = _items(text)
    if not items or any(i.lower() in _ANY for i in items):
        return None, []
    ranges: list[Interval] = []
    words: list[str] = []
    for item in items:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if m is None:
            words.append(item)
            continue
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 0 <= lo <= hi <= 65535:
            raise _error(ctx, rule.line, f"port {item!r} is out of range", None)
        ranges.append((lo, hi))
    return ir.Ports(tuple(merge(ranges))), words


def _profiles(rule: WinRule, ctx: ReadContext) -> frozenset[str]:
    names = {p.lower() for p in _items(rule.profiles)}
    if not names or names & {"any", "all"}:
        return frozenset(PROFILES)
    unknown = names - set(PROFILES)
    if unknown:
        raise _error(ctx, rule.line, f"unknown profile {sorted(unknown)[0]!r}", None)
    return frozenset(names)


def _destination(
    local: dict[int, list[Interval]], words: list[str], ctx: ReadContext, fam: int
) -> str | None:
    """None when the rule never matches a connection to --to; else why it is conditional."""
    if local[fam] == full(32 if fam == 4 else 128) and not words:
        return ""
    if not local[fam] and not words:
        return None  # addresses of the other family only
    if ctx.to is None:
        return "LocalAddress (give --to, the address the service listens on)"
    try:
        f, value, _ = ipspace.parse_address(ctx.to)
    except AddressError as e:
        raise ReaderError(f"--to {ctx.to!r}: {e}", source=ctx.name) from None
    if f != fam:
        return f"LocalAddress (--to gives an IPv{f} address)"
    if any(a <= value <= b for a, b in local[fam]):
        return ""
    return f"LocalAddress {', '.join(words)}" if words else None


def lower(rule: WinRule, ctx: ReadContext, unsupported: list[str]) -> Lowered | None:
    if rule.enabled.lower() not in ("true", "yes"):
        return None
    if rule.direction.lower() not in ("inbound", "in"):
        return None
    action = rule.action.lower()
    if action not in ("allow", "block", "bypass"):
        unsupported.append(f"{ctx.name}:{rule.line}: action {rule.action!r} is not read")
        return None
    whys: list[str] = []
    rank = {"bypass": 0, "block": 1, "allow": 2}[action]
    if action == "allow" and rule.override.lower() == "true":
        rank = 0
    if action != "block" and rule.security and rule.security.lower() != "notrequired":
        whys.append(f"Security {rule.security}: only IPsec-authenticated connections")
    if rank == 0:
        whys.append("allow-bypass (override block rules): only authenticated connections")
    for what, value in (("Program", rule.program), ("Service", rule.service)):
        if value and value.lower() not in _ANY:
            whys.append(f"{what} {value}: only connections to it (is it the one listening?)")
    if rule.interfaces and rule.interfaces.lower() not in _ANY:
        whys.append(f"InterfaceTypes {rule.interfaces}")
    protocol = rule.protocol.strip().lower()
    protocols = None if protocol in _ANY else frozenset({PROTOCOLS.get(protocol, protocol)})
    dport, port_words = _ports(rule.local_port, rule, ctx)
    sport, sport_words = _ports(rule.remote_port, rule, ctx)
    traffic_whys = tuple(f"LocalPort {w}" for w in port_words) + tuple(
        f"RemotePort {w}" for w in sport_words
    )
    traffic = ir.Traffic(
        protocols,
        dports=(dport,) if dport is not None and dport.ranges else (),
        sports=(sport,) if sport is not None and sport.ranges else (),
        whys=traffic_whys,
    )
    if dport is not None and not dport.ranges and port_words:
        traffic = ir.Traffic(protocols, sports=traffic.sports, whys=traffic_whys)
    remote, keywords = _addresses(rule.remote, rule, ctx, "RemoteAddress")
    local, local_words = _addresses(rule.local, rule, ctx, "LocalAddress")
    shown = rule.display if rule.display == rule.name else f"{rule.display} ({rule.name})"
    text = f"{shown}: {rule.action} {rule.protocol} {rule.local_port} from {rule.remote}"
    if rule.profiles:
        text += f" [{rule.profiles}]"
    ref = RuleRef(Origin(ctx.name, rule.line), text)
    outcome = ir.DROP if action == "block" else ir.ACCEPT
    made: dict[int, list[ir.Rule]] = {4: [], 6: []}
    for fam in (4, 6):
        dest = _destination(local, local_words, ctx, fam)
        if dest is None:
            continue
        fam_whys = (*whys, dest) if dest else tuple(whys)
        if remote[fam]:
            made[fam].append(ir.Rule(ref, outcome, tuple(remote[fam]), (), traffic, (), fam_whys))
        if keywords:
            why = f"RemoteAddress {', '.join(keywords)} (its addresses are not in the export)"
            bits = 32 if fam == 4 else 128
            made[fam].append(
                ir.Rule(ref, outcome, (), tuple(full(bits)), traffic, (), (*fam_whys, why))
            )
    for w in (*keywords, *port_words):
        if w.lower() not in KEYWORDS and not _PORT_WORDS.fullmatch(w):
            unsupported.append(f"{ctx.name}:{rule.line}: keyword {w!r} is not known")
    return Lowered(rule, rank, _profiles(rule, ctx), made, remote)


def _chosen(ctx: ReadContext) -> str | None:
    given = ctx.chain
    if given is None or given == "INPUT":
        return None
    if given.lower() in PROFILES:
        return given.lower()
    raise ReaderError(
        f"--chain {given!r} is not a Windows Firewall profile",
        source=ctx.name,
        hint="use --chain domain, private or public (the profile of the server's network)",
    )


def _default(ctx: ReadContext, profile: str) -> RuleRef:
    return RuleRef(
        Origin(ctx.name),
        f"{profile.title()} profile: no rule allows it; the default inbound action is Block",
    )


def evaluate(lowered: Sequence[Lowered], ctx: ReadContext) -> list[Verdicts]:
    profile = _chosen(ctx)
    profiles = [profile] if profile else list(PROFILES)
    out = []
    ordered = sorted(lowered, key=lambda x: x.rank)
    for fam in (4, 6):
        named = []
        for p in profiles:
            rules = [r for low in ordered if p in low.profiles for r in low.rules[fam]]
            got = engine.first_match(rules, fam, "drop", _default(ctx, p), ctx.service)
            named.append((p.title(), got.segments))
        if len(named) == 1:
            out.append(Verdicts(fam, tuple(named[0][1])))
            continue
        segs = engine.agree(named, "profile", "", _describe)
        out.append(Verdicts(fam, tuple(segs)))
    return out


def _describe(said: Sequence[tuple[str, Segment]]) -> RuleRef:
    first = said[0][1].rule
    parts = "; ".join(f"{name}: {s.outcome} ({s.rule.text})" for name, s in said)
    allowed = [name for name, s in said if s.outcome == "accept"]
    head = (
        f"allowed only under the {', '.join(allowed)} profile(s)"
        if allowed
        else "the profiles differ"
    )
    why = f"{head} ({parts}); give --chain domain|private|public"
    return RuleRef(first.origin, first.text, why)


def _objects(
    lowered: Sequence[Lowered], ctx: ReadContext
) -> Callable[[], tuple[list[Entry], list[str]]]:
    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: dict[str, None] = {}
        for low in lowered:
            if low.rank != 2:
                continue
            groups = dict.fromkeys(g for g in (low.rule.name, low.rule.display) if g)
            for group in groups:
                names[group] = None
                origin = Origin(ctx.name, low.rule.line, low.rule.name)
                for fam in (4, 6):
                    if low.sure[fam] == full(32 if fam == 4 else 128):
                        continue
                    entries += [Entry(fam, a, b, origin, group) for a, b in low.sure[fam]]
        return entries, list(names)

    return make


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`WindowsFirewallReader` reads from an export."""
    text = decode_text(data, ctx)
    if _NETSH.search(text.encode("utf-8")[:65536]):
        rules = parse_netsh(text, ctx)
    else:
        rules = parse_csv(text, ctx)
    unsupported: list[str] = []
    lowered = [x for r in rules if (x := lower(r, ctx, unsupported)) is not None]
    findings = [
        Finding(
            "profile-settings",
            Severity.INFO,
            "the profiles' settings are not in the export: each is read as enabled with the"
            " default inbound action Block (Get-NetFirewallProfile shows them)",
            Origin(ctx.name),
        )
    ]
    verdicts = evaluate(lowered, ctx)
    info = SourceInfo.for_bytes(ctx.name, ctx.role, "windows-firewall", data, ctx.now)
    objects = _objects(lowered, ctx)
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported, objects))
