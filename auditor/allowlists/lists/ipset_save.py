"""``ipset save`` output: named sets whose members iptables rules match with ``-m set``.

An ipset file is not an allowlist by itself: given with ``--declared`` next to an
iptables-save export, its sets resolve that export's ``--match-set NAME src`` rules. Read on
its own, it lists the members of every set, each set a group (usable with ``--scope``).

Understood: ``create NAME TYPE family inet|inet6 ...`` and ``add NAME MEMBER [options]`` for
``hash:ip``, ``hash:net``, ``bitmap:ip`` and ``list:set`` (members are other sets, resolved).
Sets that also key on ports, interfaces or marks (``hash:ip,port``, ``hash:net,iface``, ...)
cannot be reduced to addresses: their members are reported, and a rule using them stays
conditional.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditor import ipspace
from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    decode_text,
)
from auditor.errors import AddressError
from auditor.model import RangeSet, Severity

ADDRESS_TYPES = frozenset({"hash:ip", "hash:net", "bitmap:ip"})
OTHER_SET = "ipset-other:"
"""Key prefix, in the sets given to rulesets, of a set whose members are not addresses only:
``OTHER_SET + name + "\\n" + what it is`` (its type, or what a list:set holds)."""


def sniff(data: bytes) -> bool:
    for raw in data[:4096].splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        kinds = (b" hash:", b" bitmap:", b" list:set")
        return line.startswith(b"create ") and any(kind in line for kind in kinds)
    return False


def parse_sets(text: str, name: str) -> tuple[dict[str, list[tuple[int, int, int]]], list[str]]:
    """Set name to (family, first, last) members, and what could not be used (notes)."""
    usable, notes, _ = _parse_sets(text, name)
    return usable, notes


def companion_sets(text: str, name: str) -> dict[str, list[tuple[int, int, int]]]:
    """The sets an ``ipset save`` file gives a ruleset: members of the address sets, and an
    :data:`OTHER_SET` key (no members) naming what each other set is, so a rule using it can
    say what it depends on rather than that the set was not given."""
    usable, _, others = _parse_sets(text, name)
    out = dict(usable)
    for set_name, what in others.items():
        out[f"{OTHER_SET}{set_name}\n{what}"] = []
    return out


def other_set(sets: Mapping[str, object], name: str) -> str | None:
    """What a given set that is not addresses only is (see :func:`companion_sets`)."""
    prefix = f"{OTHER_SET}{name}\n"
    return next((key[len(prefix) :] for key in sets if key.startswith(prefix)), None)


def _parse_sets(
    text: str, name: str
) -> tuple[dict[str, list[tuple[int, int, int]]], list[str], dict[str, str]]:
    kinds: dict[str, str] = {}
    members: dict[str, list[tuple[int, int, int]]] = {}
    excluded: dict[str, list[tuple[int, int, int]]] = {}
    """``nomatch`` entries of hash:net sets: exceptions, the more specific entry wins."""
    children: dict[str, list[str]] = {}
    notes: list[str] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "create" and len(words) >= 3:
            kinds[words[1]] = words[2]
            members.setdefault(words[1], [])
            if words[2] not in ADDRESS_TYPES | {"list:set"}:
                notes.append(f"{name}:{lineno}: set {words[1]} is {words[2]}: not addresses only")
        elif words[0] == "add" and len(words) >= 3:
            set_name, member = words[1], words[2]
            kind = kinds.get(set_name)
            if kind is None:
                raise ReaderError(
                    f"add to set {set_name!r} before its create line", source=name, line=lineno
                )
            if kind == "list:set":
                children.setdefault(set_name, []).append(member)
                continue
            if kind not in ADDRESS_TYPES:
                continue
            try:
                parsed = ipspace.parse(member, "fix")
            except AddressError as e:
                raise ReaderError(str(e), source=name, line=lineno) from None
            entry = (parsed.family, parsed.first, parsed.last)
            if "nomatch" in words[3:]:
                excluded.setdefault(set_name, []).append(entry)
            else:
                members[set_name].append(entry)
        elif words[0] in ("create", "add"):
            raise ReaderError(f"cannot read {raw.strip()[:80]!r}", source=name, line=lineno)
    for set_name, exceptions in excluded.items():
        members[set_name] = _most_specific_wins(members[set_name], exceptions)
    unusable = {k for k, kind in kinds.items() if kind not in ADDRESS_TYPES | {"list:set"}}
    others = {k: kinds[k] for k in unusable}
    for parent, names in children.items():
        seen = {parent}
        queue = list(names)
        while queue:
            child = queue.pop()
            if child in seen:
                continue
            seen.add(child)
            if child not in kinds or child in unusable:
                # a member set that is not in the file, or keys on more than addresses: the
                # list's members are unknown, and a rule using it must stay conditional
                notes.append(f"{name}: set {parent} holds {child}, not an address set here")
                unusable.add(parent)
                held = f"{child} ({kinds[child]})" if child in kinds else f"{child} (not given)"
                others.setdefault(parent, f"list:set holding {held}")
            members[parent].extend(members.get(child, []))
            queue.extend(children.get(child, []))
    usable = {k: v for k, v in members.items() if k not in unusable}
    return usable, notes, others


def _most_specific_wins(
    matches: list[tuple[int, int, int]], exceptions: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """hash:net looks up the most specific entry (ipset(8), ``nomatch``): apply entries from
    the widest to the narrowest, adding members and removing exceptions."""
    ordered = sorted(
        [(b - a, True, f, a, b) for f, a, b in matches]
        + [(b - a, False, f, a, b) for f, a, b in exceptions],
        key=lambda t: -t[0],
    )
    out: list[tuple[int, int, int]] = []
    for fam in (4, 6):
        space = ipspace.EMPTY
        for _, member, f, a, b in ordered:
            if f != fam:
                continue
            one = ipspace.Intervals([a], [b])
            space = ipspace.union(space, one) if member else ipspace.difference(space, one)
        starts, ends = ipspace.as_lists(space)
        out.extend((fam, s, e) for s, e in zip(starts, ends, strict=True))
    return out


class IpsetReader(Reader):
    name = "ipset"
    description = "ipset save output: named sets (resolves iptables -m set rules)"
    suffixes = (".ipset", ".ips")
    provides = "sets"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff(data)

    def companion(self, data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
        return companion_sets(data.decode("utf-8", "replace"), name)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        sets, notes = parse_sets(text, ctx.name)
        out = Collector(ctx, self.name)
        for set_name, items in sorted(sets.items()):
            out.group(set_name)
            for fam, first, last in items:
                text = ipspace.format_interval(fam, first, last)
                parsed = ipspace.Parsed(fam, first, last, None, False, False)  # type: ignore[arg-type]
                out.add(parsed, text, out.origin(None, set_name), set_name)
        for note in notes:
            out.note("unsupported", Severity.WARNING, note, out.origin())
        return out.result(data, explicit_empty=bool(sets))
