"""Checks of an nftables ruleset (text or JSON) as it is read: addresses and ports, so that a
broken one is an error at its line even in a chain the service never reaches."""

from __future__ import annotations

from auditor.allowlists.base import ReaderError
from auditor.allowlists.nftables.ast import AnonSet, Match, Ref, Rule, Ruleset, Sel, _Problem
from auditor.allowlists.nftables.values import _PORT_PROTOCOLS, _addresses, _numbers


def _validate(rs: Ruleset, name: str) -> None:
    """Addresses and ports are read when the ruleset is, so that a broken one is an error at
    its line even in a chain the service never reaches (nft itself would refuse the file)."""
    for table in rs.tables.values():
        for nset in table.sets.values():
            fam = 4 if "ipv4_addr" in nset.type else 6 if "ipv6_addr" in nset.type else 0
            if fam and " . " not in nset.type and ":" not in nset.type:
                for e in nset.elems:
                    try:
                        _addresses(e.key, fam)
                    except _Problem as p:
                        raise ReaderError(
                            f"set {nset.name}: {p}", source=name, line=nset.line
                        ) from None
        for chain in table.chains.values():
            for rule in chain.rules:
                for item in rule.items:
                    if isinstance(item, Match) and isinstance(item.left, Sel):
                        _validate_match(item, rule, name)


def _validate_match(m: Match, rule: Rule, name: str) -> None:
    assert isinstance(m.left, Sel)  # noqa: S101
    words = m.left.name.split()
    right = m.right
    atoms = [e.key for e in right.elems] if isinstance(right, AnonSet) else [right]
    try:
        if len(words) == 2 and words[0] in ("ip", "ip6") and words[1] in ("saddr", "daddr"):
            for a in atoms:
                if not isinstance(a, Ref):
                    _addresses(a, 4 if words[0] == "ip" else 6)
        elif (
            len(words) == 2
            and words[1] == "dport"
            and (words[0] in _PORT_PROTOCOLS or words[0] == "th")
        ):
            for a in atoms:
                if not isinstance(a, Ref):
                    _numbers(a, "port", words[0])
    except _Problem as p:
        raise ReaderError(str(p), source=name, line=rule.line) from None
