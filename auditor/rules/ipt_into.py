"""``--scope SET`` for iptables: the missing addresses go into the ipset the export's ACCEPT
rule already matches (``-m set --match-set SET src -j ACCEPT``), given with ``ipset save`` next
to the export, instead of rules of this tool's own, when the one evaluator says that they are
then let in.

The export is read again (unchanged since the audit: its SHA-256 is checked) with the sets as
the audit saw them, and must give what the audit saw; then again with the addresses added to
the set. The set is used only when every rule that names it matches it on the source address
and accepts (``! --match-set``, a DROP or REJECT, or a ``dst`` match would make an address in
it one that is kept out), and only for the addresses the second evaluation lets in; the others
get rules of their own, and a note says why.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions, audited_bytes
from auditor.rules.placement import admitted

FORMAT = "iptables-save"
_SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]*")
"""Set names written back (as the ipset platform writes them): nothing to quote anywhere."""


@dataclass(frozen=True)
class IntoIpset:
    """The blocks of the export's family that go into one of its ipsets."""

    family: int
    name: str
    blocks: tuple[MissingBlock, ...]
    users: tuple[str, ...]
    """The rules that match the set, ``file:line rule``, cleaned."""


def into_ipsets(
    blocks: Sequence[MissingBlock], options: RuleOptions
) -> tuple[list[IntoIpset], list[str]]:
    """The ipsets the scope names that take the missing blocks, and notes for those that
    cannot (each says why)."""
    if not options.scope or not blocks:
        return [], []
    found: list[IntoIpset] = []
    notes: list[str] = []
    for rs in options.declared:
        if rs.info.format == FORMAT:
            found += _one_export(rs, blocks, options, notes)
    return found, notes


def _sets_of(rs: RangeSet) -> dict[str, list[tuple[int, int, int]]]:
    """The ipsets the audit knew, with their members, from the export's scope objects."""
    sets: dict[str, list[tuple[int, int, int]]] = {}
    for entry in rs.scope_entries:
        path = entry.origin.path or ""
        if entry.group is not None and path == f"ipset {entry.group}":
            sets.setdefault(entry.group, []).append((entry.family, entry.first, entry.last))
    return sets


def _users(data: bytes, name: str, label: str) -> tuple[list[str], str | None]:
    """The rules that name the set, and why the set must not take addresses (None: it may)."""
    users: list[str] = []
    why = None
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        at = [k for k, w in enumerate(words[:-2]) if w in ("--match-set", "--set")]
        if not any(words[k + 1] == name for k in at):
            continue
        users.append(sanitize.clean(f"{label}:{number}: {line.strip()}")[:160])
        for k in at:
            if words[k + 1] != name:
                continue
            negated = words[k - 1] == "!" if k else False
            target = words[words.index("-j") + 1] if "-j" in words[:-1] else None
            if negated or words[k + 2].split(",")[0] != "src" or target != "ACCEPT":
                why = f"{label}:{number} does not match it as an accepted source"
    return users, why


def _one_export(
    rs: RangeSet, blocks: Sequence[MissingBlock], options: RuleOptions, notes: list[str]
) -> list[IntoIpset]:
    from auditor.allowlists.base import ReadContext
    from auditor.allowlists.firewalls.iptables_save import IptablesReader

    label = sanitize.clean(rs.info.name)
    sets = _sets_of(rs)
    wanted = [s for s in dict.fromkeys(options.scope) if s in sets]
    if not wanted:
        return []
    data = audited_bytes(rs)
    if data is None:
        notes.append(f"{label} changed since it was read: the scoped ipset is not used")
        return []
    ctx = ReadContext(
        rs.info.name, "declared", service=options.service, chain=options.chain, sets=sets
    )
    reader = IptablesReader()
    if reader.parse(data, ctx).space != rs.space:
        notes.append(
            f"{label} evaluates otherwise than in the audit (--to?): the scoped ipset is not used"
        )
        return []
    out: list[IntoIpset] = []
    for name in wanted:
        shown = sanitize.clean(name)
        users, why = _users(data, name, label)
        if not _SET_NAME.fullmatch(name):
            why = "its name cannot be written by this tool"
        if why is not None:
            notes.append(f"ipset {shown}: {why}; the addresses get rules of their own")
            continue
        for family in rs.families:
            mine = tuple(b for b in blocks if b.family == family)
            if not mine:
                continue
            trial = {k: list(v) for k, v in sets.items()}
            trial[name] += [(b.family, b.network, b.network + b.size - 1) for b in mine]
            space = reader.parse(data, dataclasses.replace(ctx, sets=trial)).space
            ok = admitted(space, mine, f"ipset {shown}", notes)
            if ok:
                out.append(IntoIpset(family, name, ok, tuple(users)))
    return out
