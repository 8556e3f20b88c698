"""What the platforms of named objects share (Cisco, JunOS, PAN-OS, FortiOS, MikroTik, Windows,
Kubernetes, pfSense): the names they give what they create, the check of a name given with
``--scope`` or ``--chain``, masks, and comments cut to a platform's own safe characters.

A name from the command line is refused when the platform cannot take it, never changed: a
changed name would be another object. A name this tool makes (``auditor-tcp25``, one per CIDR)
holds only letters, digits, ``-``, ``_`` and ``.``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from auditor import ipspace
from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions
from auditor.service import Service

DEFAULT_CHAIN = "INPUT"
"""``--chain`` when none is given: on these platforms it names no ACL, filter or zone."""

PREFIX = "auditor"


def service_label(service: Service) -> str:
    """``tcp25``, ``tcp25-465-587``, ``udp1024-2048``, ``any``: for the names of objects."""
    if service.protocol == "any":
        return "any"
    return service.protocol + service.port_list("-", "-")


def default_name(service: Service, sep: str = "-") -> str:
    """The name of what the rules create when no ``--scope`` names it: ``auditor-tcp25``
    (``sep`` joins its words: ``auditor_tcp25_587`` with ``_``)."""
    return f"{PREFIX}{sep}{service_label(service).replace('-', sep)}"


def chain_given(options: RuleOptions) -> str | None:
    """The ``--chain`` given, or None for the default (which names nothing on these)."""
    return None if options.chain == DEFAULT_CHAIN else options.chain


def check_names(
    platform: str,
    options: RuleOptions,
    pattern: re.Pattern[str],
    allowed: str,
    max_len: int,
    chain: bool = True,
) -> None:
    """Refuse a ``--scope`` or ``--chain`` the platform cannot take: not matching ``pattern``
    (described by ``allowed`` in the hint), or longer than ``max_len`` characters. Without
    ``chain`` the platform has no use for ``--chain``, and one given is refused rather than
    ignored."""
    names = [("scope", s) for s in options.scope]
    given = chain_given(options)
    if given is not None and not chain:
        raise UsageError(
            f"{platform} rules have no chain; --chain {given!r} would be ignored",
            hint="leave out --chain (name the object with --scope)",
        )
    if given is not None:
        names.append(("chain", given))
    for what, name in names:
        if not pattern.fullmatch(name):
            raise UsageError(
                f"{what} name {name!r} cannot be used for {platform}",
                hint=f"use {allowed}",
            )
        if max_len and len(name) > max_len:
            raise UsageError(
                f"{what} name {name!r} is {len(name)} characters long; {platform} allows {max_len}",
                hint=f"use a shorter {what} name",
            )


def scope_name(options: RuleOptions) -> str | None:
    """The object the rules go into: the first ``--scope``, or None."""
    return options.scope[0] if options.scope else None


def mask(block: MissingBlock) -> str:
    """The IPv4 netmask of a block: ``255.255.255.0`` for a /24."""
    bits = ipspace.BITS[4]
    value = ((1 << bits) - 1) ^ ((1 << (bits - block.prefixlen)) - 1)
    return ipspace.format_address(4, value)


def wildcard(block: MissingBlock) -> str:
    """The IPv4 wildcard (inverse) mask of a block: ``0.0.0.255`` for a /24."""
    return ipspace.format_address(4, (1 << (ipspace.BITS[4] - block.prefixlen)) - 1)


def address(block: MissingBlock) -> str:
    """The network address of a block, checked as :func:`sanitize.cidr` checks it."""
    return sanitize.cidr(block).partition("/")[0]


def cidr_label(block: MissingBlock) -> str:
    """A name part for one CIDR, letters, digits, ``.``, ``-`` and ``_`` only, one to one:
    ``192.0.2.0_24``, ``2001-db8-1--_48`` (IPv6 text has no ``-``, so no two CIDRs meet)."""
    return sanitize.cidr(block).replace(":", "-").replace("/", "_")


def restrict(text: str, allowed: Iterable[str]) -> str:
    """``text`` (already :func:`sanitize.clean`) with every character outside ``allowed``
    made ``_``: for a platform whose quoted strings give meaning to more characters."""
    keep = frozenset(allowed)
    return "".join(c if c in keep else "_" for c in text)


def port_ranges(service: Service) -> Sequence[tuple[int, int]]:
    """The port ranges of the service; none for ``any``."""
    return () if service.protocol == "any" else service.ports


def by_family(blocks: Sequence[MissingBlock]) -> dict[int, list[MissingBlock]]:
    """The blocks per family in a stable order, IPv4 first; families without blocks left out."""
    out: dict[int, list[MissingBlock]] = {}
    for block in sanitize.sorted_blocks(blocks):
        out.setdefault(block.family, []).append(block)
    return out
