"""The parser of ``iptables-save`` / ``ip6tables-save`` exports and ``iptables-restore``
files (see :mod:`auditor.allowlists.firewalls.iptables_save` for what is understood): the
restore commands applied table by table, iptables-restore's quoting, each rule's options read
into an :class:`~auditor.allowlists.firewalls.iptables_model.Rule`, and the kind of export
(iptables or ip6tables) from its header comment or the options only one of them takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor import ipspace
from auditor.allowlists.base import MAX_FINDINGS_PER_KIND, ReadContext, ReaderError
from auditor.allowlists.firewalls.iptables_model import (
    _OTHER_PROTOCOLS,
    PortTest,
    Rule,
    Ruleset,
    Table,
)
from auditor.allowlists.firewalls.iptables_words import (
    _CONDITIONAL_MODULES,
    _COUNTERS,
    _EVALUATED_MODULES,
    _EXT_HEADER_MODULES,
    _IGNORED_MODULES,
    _PROTO_NUMBERS,
    _SYN,
    _TABLES,
    _TARGET_FLAGS,
    _TARGET_VALUES,
    _TCP_FLAGS,
    _kind,
    _tokens,
)
from auditor.allowlists.lists.ipset_save import other_set
from auditor.errors import AddressError
from auditor.model import Finding, Origin, Severity
from auditor.ruleset.sweep import client_ports, complement, intersect, merge


class _Parser:
    def __init__(self, text: str, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.text = text
        self.family = _kind(text)
        """6 for an ip6tables export, 4 for iptables; 0 until the first address says."""
        self.input_path = (ctx.chain or "INPUT") == "INPUT"
        self.findings: list[Finding] = []
        self.table_name = "filter"

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def one_address(self, part: str, line: int) -> ipspace.Parsed:
        """One ``-s``/``-d`` item: an address, ``addr/len`` or ``addr/netmask``, as iptables
        takes them (xtables.c: a dotted or colon mask is a netmask, which must be contiguous
        here: a non-contiguous one is not a CIDR)."""
        addr, slash, mask = part.partition("/")
        if slash and ("." in mask or ":" in mask):
            try:
                fam, value, _ = ipspace.parse_address(mask)
            except AddressError as e:
                raise self.error(line, f"{part!r}: the netmask {mask!r}: {e}") from None
            bits = 32 if fam == 4 else 128
            inverted = ~value & ((1 << bits) - 1)
            if inverted & (inverted + 1):
                raise self.error(
                    line,
                    f"{part!r} has a non-contiguous netmask, which is not a network",
                    hint="this reader evaluates CIDR networks only",
                )
            part = f"{addr}/{bits - inverted.bit_length()}"
        try:
            parsed = ipspace.parse(part, "fix")
        except AddressError as e:
            raise self.error(line, str(e)) from None
        if parsed.mapped and len(self.findings) < MAX_FINDINGS_PER_KIND:
            # ip6tables keeps ::ffff:a.b.c.d as an IPv6 address, and an IPv4 packet never
            # crosses ip6tables (nor does the kernel take mapped IPv6 sources, ip6_rcv_core)
            self.findings.append(
                Finding(
                    "ipv4-mapped",
                    Severity.WARNING,
                    ipspace.mapped_note(part, parsed) + " (in the iptables-save export)",
                    Origin(self.ctx.name, line),
                )
            )
        return parsed

    def addresses(self, value: str, line: int) -> list[tuple[int, int]]:
        out = []
        for part in value.split(","):
            parsed = self.one_address(part, line)
            if not self.family:
                self.family = parsed.family
            elif parsed.family != self.family:
                raise self.error(
                    line,
                    f"{part!r} is IPv{parsed.family} in an IPv{self.family} export",
                    hint="iptables-save and ip6tables-save are separate files",
                )
            out.append((parsed.first, parsed.last))
        return merge(out)

    def parse(self) -> Ruleset:
        tables: dict[str, Table] = {}
        unsupported: list[str] = []
        name = "filter"
        table: Table | None = None
        understood = False
        opened = 0
        """The line of the ``*table`` whose COMMIT is still to come (0: none)."""
        for lineno, raw in enumerate(self.text.split("\n"), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                if opened:
                    raise self.uncommitted(name, opened, f"before *{line[1:].strip()}")
                opened = lineno
                name = self.table_name = line[1:].strip()
                # iptables-restore flushes a table when its section starts (no --noflush)
                table = Table() if name in _TABLES else None
                if table is not None:
                    tables[name] = table
                understood = True
                if table is None:
                    unsupported.append(f"{self.ctx.name}:{lineno}: table {name!r} not evaluated")
                continue
            if line == "COMMIT":
                opened = 0
                continue
            if table is None:
                if name != "filter" or tables:
                    continue  # a table this reader does not evaluate
                table = tables["filter"] = Table()  # rules before any *table line
            if line.startswith(":"):
                parts = line[1:].split()
                if len(parts) < 2:
                    raise self.error(lineno, f"cannot read the chain line {line!r}")
                # re-declaring a user chain empties it, as iptables-restore does
                table.chains[parts[0]] = [] if parts[1] == "-" else table.chains.get(parts[0], [])
                if parts[1] != "-":
                    table.policies[parts[0]] = (parts[1], lineno, line)
                understood = True
                continue
            tokens = _tokens(line)
            if tokens is None:
                raise self.error(lineno, "a double quote is not closed")
            if tokens and _COUNTERS.fullmatch(tokens[0]):
                tokens = tokens[1:]  # iptables-save -c: [packets:bytes] before the rule
            if tokens and self.command(table, tokens, lineno, line):
                understood = True
            else:
                unsupported.append(f"{self.ctx.name}:{lineno}: {line[:80]!r} not understood")
        if not understood:
            raise self.error(1, "no filter table and no chain: this is not an iptables-save export")
        if opened:
            raise self.uncommitted(name, opened, "at the end of the file")
        return Ruleset(self.family or 4, tables, unsupported, self.findings)

    def uncommitted(self, table: str, line: int, where: str) -> ReaderError:
        """A ``*table`` section without its COMMIT: iptables-restore refuses the file, and
        the rules after the cut were never seen."""
        return self.error(
            line,
            f"table {table} has no COMMIT ({where}): the export is cut short, and"
            " iptables-restore would refuse it",
            hint="export the rules again with iptables-save (or ip6tables-save) and give the"
            " whole file; every *table section ends with COMMIT",
        )

    def command(self, table: Table, tokens: list[str], lineno: int, line: str) -> bool:
        """Apply one command line to the table; False when it is not understood."""
        op, args = tokens[0], tokens[1:]
        chains = table.chains
        if op in ("-A", "--append") and args:
            rule = self.rule(args[0], args[1:], lineno, line)
            if self.keeps(rule):
                chains.setdefault(args[0], []).append(rule)
        elif op in ("-I", "--insert") and args:
            rest, pos = args[1:], 1
            if rest and rest[0].isdigit():
                pos, rest = int(rest[0]), rest[1:]
            rule = self.rule(args[0], rest, lineno, line)
            if self.keeps(rule):
                chains.setdefault(args[0], []).insert(pos - 1, rule)
        elif op in ("-R", "--replace") and len(args) >= 2 and args[1].isdigit():
            rules = chains.get(args[0], [])
            rule = self.rule(args[0], args[2:], lineno, line)
            if not 1 <= int(args[1]) <= len(rules):
                raise self.error(lineno, f"{args[0]} has no rule number {args[1]} to replace")
            if self.keeps(rule):
                rules[int(args[1]) - 1] = rule
        elif op in ("-D", "--delete") and args:
            rules = chains.get(args[0], [])
            if len(args) == 2 and args[1].isdigit():
                index = int(args[1]) - 1
            else:
                key = self.rule(args[0], args[1:], lineno, line).key()
                index = next((k for k, r in enumerate(rules) if r.key() == key), -1)
            if not 0 <= index < len(rules):
                raise self.error(lineno, f"no such rule in {args[0]} to delete")
            del rules[index]
        elif op in ("-N", "--new-chain") and len(args) == 1:
            chains.setdefault(args[0], [])
        elif op in ("-P", "--policy") and len(args) >= 2:
            table.policies[args[0]] = (args[1], lineno, line)
            chains.setdefault(args[0], [])
        elif op in ("-F", "--flush") and len(args) <= 1:
            for name in args or list(chains):
                chains[name] = []
        elif op in ("-X", "--delete-chain") and len(args) <= 1:
            for name in args or [c for c in chains if c not in table.policies]:
                chains.pop(name, None)
        elif op in ("-E", "--rename-chain") and len(args) == 2:
            old, new = args
            if old not in chains:
                raise self.error(lineno, f"no chain {old!r} to rename")
            chains[new] = chains.pop(old)
            for rules in chains.values():
                for r in rules:
                    if r.target == old:
                        r.target = new
        else:
            return False
        return True

    def keeps(self, rule: Rule) -> bool:
        """iptables-restore skips a ``-6`` rule, and ip6tables-restore a ``-4`` one."""
        return rule.family is None or rule.family == (self.family or 4)

    def rule(self, chain: str, args: list[str], lineno: int, text: str) -> Rule:
        simple = self.simple_rule(chain, args, lineno, text)
        if simple is not None:
            return simple
        rule = Rule(chain, lineno, text)
        i = 0
        negate = False
        module = ""
        target_args: list[str] = []

        def value() -> str:
            nonlocal i
            i += 1
            if i >= len(args):
                raise self.error(lineno, f"{args[i - 1]} needs a value")
            return args[i]

        while i < len(args):
            a = args[i]
            if a == "!":
                negate = True
                i += 1
                continue
            if i + 1 < len(args) and args[i + 1] == "!" and a.startswith("-"):
                # old syntax (iptables before 1.4.3): -s ! 10.0.0.0/8
                negate = True
                args = args[: i + 1] + args[i + 2 :]
            if a in ("-p", "--protocol"):
                proto = value().lower()
                rule.protocol = _PROTO_NUMBERS.get(proto, proto)
                rule.protocol_negated = negate
                if rule.protocol not in _OTHER_PROTOCOLS | {"tcp", "udp", "all"}:
                    # a protocol number or name not known here may well be TCP's or UDP's
                    rule.why.append(f"protocol {proto}, which is not evaluated")
            elif a in ("-s", "--source", "--src"):
                src = self.addresses(value(), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a in ("-d", "--destination", "--dst"):
                dst = self.addresses(value(), lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a in ("-i", "--in-interface"):
                name = value()
                if name == "lo" and not negate:
                    rule.new_ok = False  # loopback: never a connection from another host
                elif not (name == "lo" and negate):
                    rule.why.append(f"the interface is {'not ' if negate else ''}{name}")
            elif a in ("-o", "--out-interface"):
                name = value()
                if not self.input_path or name.endswith("+"):
                    rule.why.append(f"the output interface is {'not ' if negate else ''}{name}")
                elif not negate:
                    rule.new_ok = False  # on INPUT a packet has no output interface
            elif a in ("-f", "--fragment"):
                if not negate:
                    rule.new_ok = False  # later fragments only; a SYN is a first packet
            elif a in ("-4", "--ipv4", "-6", "--ipv6"):
                rule.family = 4 if a in ("-4", "--ipv4") else 6
            elif a in ("-j", "--jump", "-g", "--goto"):
                rule.target = value()
                rule.goto = a in ("-g", "--goto")
                module = ""
            elif a in ("-m", "--match"):
                module = value().lower()
                if module in _CONDITIONAL_MODULES:
                    rule.why.append(f"{_CONDITIONAL_MODULES[module]} (-m {module})")
                elif module in _EXT_HEADER_MODULES and self.family == 6:
                    rule.new_ok = False
                elif module not in _IGNORED_MODULES | _EVALUATED_MODULES:
                    rule.why.append(f"-m {module}, which is not evaluated")
            elif a in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                rule.ports.append(PortTest(_ports(value(), self, lineno), negate))
            elif a == "--ports":
                rule.ports.append(PortTest(_ports(value(), self, lineno), negate, either=True))
            elif a in ("--sport", "--source-port", "--sports", "--source-ports", "--ctorigsrcport"):
                text = value()
                test = PortTest(_ports(text, self, lineno), negate)
                rule.source_ports.append(test)
                client = client_ports(test.ranges, negate)
                if client is False:
                    rule.new_ok = False  # no client connects from such a port
                elif client is None:
                    shown = f"{'! ' if negate else ''}{a} {text}"
                    rule.why.append(f"the client's source port ({shown})")
            elif a == "--ctorigsrc" and self.table_name != "raw":
                # the original source of a new connection is its source: conntrack has seen
                # the packet by now (raw runs before it), and no SNAT has happened yet
                src = self.addresses(value(), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a == "--syn":
                rule.new_ok = rule.new_ok and not negate
            elif a == "--tcp-flags":
                mask, comp = _flags(value(), self, lineno), _flags(value(), self, lineno)
                if mask > _TCP_FLAGS["ALL"]:
                    rule.why.append("TCP flags beyond the six classic ones (ECN)")
                elif ((_SYN & mask) == comp) == negate:
                    rule.new_ok = False  # never true for the SYN that opens the connection
            elif a in ("--ctstate", "--state"):
                states = {s.upper() for s in value().split(",")}
                rule.new_ok = rule.new_ok and (("NEW" in states) != negate)
            elif a == "--src-range":
                src = self.addresses(_range(value()), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a == "--dst-range":
                dst = self.addresses(_range(value()), lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a == "--match-set":
                name = value()
                flags = value().split(",")
                self.match_set(rule, name, flags, negate, lineno)
            elif a == "--dst-type":
                kinds = {k.upper() for k in value().split(",")}
                if not self.input_path:
                    rule.why.append(f"the destination address type ({','.join(sorted(kinds))})")
                elif ("LOCAL" in kinds) == negate:
                    # on INPUT the destination is this host's address: type LOCAL, which
                    # excludes UNICAST and the rest (xt_addrtype: one route type per address)
                    rule.new_ok = False
            elif a == "--src-type":
                rule.why.append(f"the source address type ({value()})")
            elif a == "--comment":
                value()
            elif a in ("-c", "--set-counters"):
                i += 3
                negate = False
                continue
            elif a.startswith("-") and len(a) > 1:
                if rule.target is not None and (a in _TARGET_VALUES or a in _TARGET_FLAGS):
                    # an option of the target: --reject-with, --log-prefix "-- x" (its value
                    # may start with a dash), --add-set NAME src,dst (two values)
                    target_args.append(a)
                    if a in _TARGET_VALUES:
                        target_args.append(value())
                    while i + 1 < len(args) and not args[i + 1].startswith(("-", "!")):
                        target_args.append(value())
                elif module in _CONDITIONAL_MODULES or (module in _EXT_HEADER_MODULES):
                    if i + 1 < len(args) and not args[i + 1].startswith("-"):
                        i += 1  # the rule is already conditional (or never matches)
                elif a not in ("--icmp-type", "--icmpv6-type"):
                    if i + 1 < len(args) and not args[i + 1].startswith("-"):
                        rule.why.append(f"{a} {args[i + 1]}")
                        i += 1
                    else:
                        rule.why.append(a)
                elif i + 1 < len(args):
                    i += 1
            else:
                raise self.error(lineno, f"unexpected {a!r} in the rule")
            negate = False
            i += 1
        rule.target_args = tuple(target_args)
        if rule.destinations is not None:
            if not self.to_known():
                rule.why.append(
                    f"the destination address (give --to with the server's IPv{self.bits_family}"
                    " address to evaluate it)"
                )
            elif not self.to_inside(rule.destinations):
                rule.new_ok = False  # never matches traffic to --to
        return rule

    def to_known(self) -> bool:
        """Whether ``--to`` says where this export's connections go: given, and of its family
        (an IPv6 --to says nothing about the IPv4 address of the server)."""
        if self.ctx.to is None:
            return False
        fam, _, _ = ipspace.parse_address(self.ctx.to)
        return fam == self.bits_family

    def to_inside(self, intervals: Sequence[tuple[int, int]]) -> bool:
        """Whether ``--to`` (given) is inside the intervals."""
        fam, to, _ = ipspace.parse_address(self.ctx.to or "")
        return fam == self.bits_family and any(a <= to <= b for a, b in intervals)

    def simple_rule(self, chain: str, args: list[str], lineno: int, text: str) -> Rule | None:
        """The common shape ``[-s ADDR] [-p tcp|udp] [-m tcp|udp] [--dport N] -j TARGET``
        read without the general option walk (big exports are mostly this); None for
        anything else."""
        n = len(args)
        if n % 2 or n < 2 or args[-2] != "-j" or "!" in args:
            return None
        rule = Rule(chain, lineno, text, target=args[-1])
        for k in range(0, n - 2, 2):
            opt, val = args[k], args[k + 1]
            if opt == "-s" and rule.sources is None and "/" in val and "," not in val:
                parsed = self.one_address(val, lineno)
                if parsed.family != (self.family or parsed.family):
                    return None  # the general path reports it
                self.family = parsed.family
                rule.sources = ((parsed.first, parsed.last),)
            elif opt == "-p" and rule.protocol is None and val in ("tcp", "udp", "all"):
                rule.protocol = val
            elif opt == "-m" and val in ("tcp", "udp"):
                continue
            elif (
                opt == "--dport"
                and not rule.ports
                and val.isascii()
                and val.isdigit()
                and len(val) < 5
            ):
                rule.ports = [PortTest(((int(val), int(val)),))]
            else:
                return None
        return rule

    @property
    def bits(self) -> int:
        return 128 if self.family == 6 else 32

    @property
    def bits_family(self) -> int:
        return self.family or 4

    def match_set(self, rule: Rule, name: str, flags: list[str], negate: bool, lineno: int) -> None:
        direction = flags[0]
        members = self.ctx.sets.get(name)
        if members is None:
            other = other_set(self.ctx.sets, name)
            if other is not None:
                rule.why.append(_other_set_why(name, other, flags))
                return
            rule.why.append(
                f"ipset {name} (its members were not given: add the `ipset save` output"
                " with --declared)"
            )
            return
        inside = merge([(a, b) for f, a, b in members if f == self.bits_family])
        if direction == "src":
            rule.sources = _and(rule.sources, _not(inside, negate, self.bits))
        elif direction == "dst" and self.to_known():
            if self.to_inside(inside) == negate:
                rule.new_ok = False
        else:
            rule.why.append(f"ipset {name} on the {direction} address")


_SET_DIMENSIONS = {
    "ip": "{} address",
    "net": "{} address",
    "port": "{} port (and protocol)",
    "iface": "{} interface",
    "mac": "{} MAC address",
    "mark": "packet mark",
}


def _other_set_why(name: str, what: str, flags: Sequence[str]) -> str:
    """What a rule matching a given set that is not addresses only depends on: each
    dimension of the set's type, in the direction ``--match-set`` gives it (a dimension past
    the flags given looks at the destination, as xt_set does)."""
    kind, _, dims = what.partition(":")
    if kind not in ("hash", "bitmap") or what.startswith("list:"):
        return f"ipset {name} is a {what}, whose members are not evaluated"
    parts = []
    for i, dim in enumerate(dims.split(",")):
        side = flags[i] if i < len(flags) else "dst"
        where = "source" if side == "src" else "destination"
        if dim == "iface":
            where = "input" if side == "src" else "output"
        parts.append(_SET_DIMENSIONS.get(dim, f"{{}} {dim}").format(where))
    return (
        f"ipset {name} is {what}: its members (given) match the {' and '.join(parts)}"
        " together, which is not evaluated"
    )


def _range(text: str) -> str:
    lo, _, hi = text.partition("-")
    return f"{lo}-{hi}"


def _ports(text: str, parser: _Parser, line: int) -> tuple[tuple[int, int], ...]:
    """``25``, ``1024:65535``, ``:1023``, ``1024:`` or such, joined by commas; a port over
    65535 or a range whose start is past its end is refused, as iptables-restore does."""
    out = []
    for part in text.split(","):
        lo, sep, hi = part.partition(":")
        if not all(x == "" or (x.isascii() and x.isdigit()) for x in (lo, hi)) or (
            not lo and not sep
        ):
            raise parser.error(line, f"cannot read the port {part!r}", hint="a number, or a:b")
        a = int(lo) if lo else 0
        b = int(hi) if sep and hi else (65535 if sep else a)
        if a > 65535 or b > 65535:
            raise parser.error(
                line,
                f"port {part!r} is out of range (0-65535)",
                hint="iptables-restore refuses this rule; correct the export",
            )
        if a > b:
            raise parser.error(
                line,
                f"port range {part!r} starts after it ends",
                hint="iptables-restore refuses this rule; write it low:high",
            )
        out.append((a, b))
    return tuple(out)


def _flags(text: str, parser: _Parser, line: int) -> int:
    bits = 0
    for name in text.upper().split(","):
        if name not in _TCP_FLAGS:
            if name in ("ECE", "CWR"):
                return 255
            raise parser.error(line, f"unknown TCP flag {name!r}")
        bits |= _TCP_FLAGS[name]
    return bits


def _not(intervals: list[tuple[int, int]], negate: bool, bits: int) -> list[tuple[int, int]]:
    return complement(intervals, bits) if negate else intervals


def _and(
    a: Sequence[tuple[int, int]] | None, b: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    if a is None:
        return tuple(b)
    return tuple(intersect(a, b))
