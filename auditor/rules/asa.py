"""Cisco ASA: an ``object-group network`` holding the CIDRs and an ``access-list`` entry that
permits it, for pasting into ``configure terminal``.

- IPv4 entries are written with a netmask (``network-object 192.0.2.0 255.255.255.0``), IPv6
  entries with a prefix (``network-object 2001:db8::/32``); one group holds both (ASA 9.0 and
  later), and so does one access list.
- Placement: ``access-list NAME line 1`` puts each entry at the top of the access list, ahead of
  any deny in it. ``--chain`` names the access list (the one ``access-group`` binds to the
  interface). With ``--scope``, the CIDRs go into that object-group, which the existing permit
  entry already uses, and no access-list entry is written.
- Adding an object the group has already, or an entry the list has already, changes nothing
  (the ASA says so and goes on), so the file can be pasted again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import BANG, Artifact
from auditor.rules.base import Generator, RuleOptions, stale
from auditor.service import Service

if TYPE_CHECKING:
    from auditor.rules import asa_place

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def network_object(block: MissingBlock) -> str:
    """``network-object 192.0.2.0 255.255.255.0`` or ``network-object 2001:db8::/32``."""
    if block.family == 4:
        return f"network-object {objects.address(block)} {objects.mask(block)}"
    return f"network-object {sanitize.cidr(block)}"


def port_matches(service: Service) -> list[tuple[str, str]]:
    """(protocol, port match) per access-list entry: ``("tcp", "eq 25")``, ``("ip", "")``."""
    if service.protocol == "any":
        return [("ip", "")]
    ranges = objects.port_ranges(service)
    if not ranges:
        return [(service.protocol, "")]
    return [(service.protocol, f"eq {lo}" if lo == hi else f"range {lo} {hi}") for lo, hi in ranges]


class AsaGenerator(Generator):
    name = "asa"
    description = "Cisco ASA object-group network and access-list lines (IPv4 and IPv6)"
    families = (4, 6)
    max_name_len = 64
    """Object-group and access-list names: at most 64 characters here (access lists take
    more, object groups do not). "Object names are limited to 64 characters": Cisco ASA
    firewall configuration guide 9.22, Objects for Access Control, Guidelines
    (cisco.com/c/en/us/td/docs/security/asa/asa922/configuration/firewall/asa-922-firewall-config/access-objects.html)."""
    max_comment_len = 200
    """An object-group ``description``: at most 200 characters."""
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            options,
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter or digit",
            self.max_name_len,
        )

    def group(self, options: RuleOptions) -> str:
        return objects.scope_name(options) or objects.default_name(options.service)

    def acl(self, options: RuleOptions) -> str:
        return options.chain

    def entries(self, options: RuleOptions) -> list[str]:
        """The access-list entries (without ``line 1``) that permit the group."""
        group = self.group(options)
        out = []
        for proto, match in port_matches(options.service):
            words = ["extended permit", proto, f"object-group {group}", "any", match]
            out.append(" ".join(w for w in words if w))
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        from auditor.rules import asa_place

        ordered = sanitize.sorted_blocks(blocks)
        scope = objects.scope_name(options)
        place = asa_place.target(ordered, options, scope)
        group = self.group(options)
        acl = place.acl if place is not None else self.acl(options)
        how = "paste into configure terminal (or copy FILE running-config)"
        check = f"show running-config object-group id {group}; show access-list {acl}"
        prune = self._prune(options, how, check)
        if not ordered:
            return prune
        scoped = scope is not None
        count = len(ordered)
        lines = []
        if scoped:
            lines.append(f"! Into object-group {group}, which the permit entry already uses.")
        elif place is None:
            lines += [
                f"! access-list {acl} must be the one access-group binds to the interface",
                "! (name it with --chain); line 1 puts each entry ahead of any deny in it.",
            ]
        else:
            lines += self._placed(place)
        lines.append(f"object-group network {group}")
        text = self.comment([options.service.describe()])
        if text and not scoped:
            lines.append(f" description {text}")
        for block in ordered:
            note = self.origins_comment(block.origins, prefix="")
            if note:
                lines.append(f" ! {note}")
            lines.append(f" {network_object(block)}")
        at = "line 1 " if place is None else f"line {place.line} " if place.line else ""
        if not scoped:
            lines.append("exit")
            lines += [f"access-list {acl} {at}{entry}" for entry in self.entries(options)]
            if place is not None and place.bind:
                lines.append(place.bind)
        arts = [
            Artifact("apply", None, "\n".join(lines) + "\n", "txt", how, check, BANG, cidrs=count)
        ]
        back = []
        if not scoped:
            if place is not None and place.bind:
                back.append(f"no {place.bind}")
            back += [f"no access-list {acl} {entry}" for entry in self.entries(options)]
            back.append(f"no object-group network {group}")
        else:
            back.append(f"object-group network {group}")
            back += [f" no {network_object(b)}" for b in ordered]
            back.append("exit")
        arts.append(
            Artifact("rollback", None, "\n".join(back) + "\n", "txt", how, check, BANG, cidrs=count)
        )
        return arts + prune

    def _placed(self, place: asa_place.AsaTarget) -> list[str]:
        """Comment lines saying where the entries go and why there, from the configuration."""
        where = sanitize.cut(sanitize.clean(place.source), 120)
        out = [f"! Into access-list {place.acl}, which {place.label} meets in {where}."]
        if place.ahead_of is not None:
            said = sanitize.cut(sanitize.clean(place.ahead_of.describe()), 200)
            out.append(f"! line {place.line}: ahead of {said}, which denies them today.")
        elif place.deciders:
            said = sanitize.cut(sanitize.clean(place.deciders[0].describe()), 200)
            out.append(f"! At the end of the list: no entry of it denies them; {said} does.")
        if place.bind:
            out += [
                f"! {place.label} has no access list: binding one replaces its security-level",
                "! rule (everything else coming in on it stays denied by the implicit deny).",
            ]
        return out

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        from auditor.rules import asa_place

        scope = objects.scope_name(options)
        if scope is None or not blocks:
            return []
        place = asa_place.target(sanitize.sorted_blocks(blocks), options, scope)
        return place.unfixed if place is not None else []

    def _prune(self, options: RuleOptions, how: str, check: str) -> list[Artifact]:
        scope = objects.scope_name(options)
        found = stale(options)
        # `no network-object` removes only a line of the group itself: an extra that comes
        # from a group-object or a `network-object object` (the ASA reader names that group
        # or object as the origin's path) is kept, and named for the user to edit there
        asa = {rs.info.name for rs in options.declared if rs.info.format == "asa"}
        extra, nested = [], []
        for b in found.blocks:
            via = [o for o in b.origins if o.source in asa and o.path]
            if not via:
                extra.append(b)
                continue
            where = sanitize.clean(f"{via[0]}: {b.cidr}")
            nested.append(f"kept: {where} is not a line of {scope}; edit it there")
        if scope is None or not (extra or nested):
            return []
        lines = [
            f"! REMOVES the extra entries of object-group {scope}: review before use.",
            "! An entry the group holds with another mask covers more than these; edit it by hand.",
            *(f"! {note}" for note in found.kept),
            *(f"! {note}" for note in nested),
            f"object-group network {scope}",
        ]
        lines += [f" no {network_object(b)}" for b in extra]
        lines.append("exit")
        body = "\n".join(lines) + "\n"
        return [Artifact("prune", None, body, "txt", how, check, BANG, cidrs=len(extra))]
