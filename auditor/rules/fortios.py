"""Fortinet FortiOS: ``config firewall address`` (IPv4) and ``address6`` (IPv6) objects, one per
CIDR, in ``addrgrp`` / ``addrgrp6`` groups, as a CLI script (paste it into the CLI, or run it
from System > Settings > Scripts).

- Names: at most 79 characters; the objects made here are ``auditor-192.0.2.0_24``.
- A group holds at most :attr:`FortiosGenerator.max_group_members` members here (the smaller
  models' limit); more go into ``NAME-2``, ``NAME-3``...
- With ``--scope``, the objects are appended to that group (``append member``), which the
  policy allowing the service already uses: they take effect at once. Otherwise the groups
  are new, and take effect once a policy ahead of the deny names them (``append srcaddr``).
- ``--chain ID`` names the policy (by its id) that denies these addresses: the file then
  writes a new accept policy for the groups (``edit 0`` takes the next free id) with a custom
  service, and says how to put it before policy ID (``move NEW before ID``, Fortinet technical
  tip "Using the CLI to change the order of the IPv4 ... policy list",
  community.fortinet.com/t5/FortiGate/Technical-Tip-Using-the-CLI-to-change-the-order-of-the-IPV4/ta-p/197353):
  the new id is only known once the policy exists, so the move (and the rollback's delete) is
  typed by hand with the id ``show firewall policy`` gives for the policy's name. One policy
  holds both families (``srcaddr6``) from FortiOS 6.4 on.
- ``--chain [VDOM/]SRC:DST`` (the fortios reader's interface pair): a new policy is for those
  interfaces. With the declared FortiGate configuration (``--rules auto``), the rules use its
  own terms (:mod:`auditor.rules.fortios_place`): the address group the accepting policy
  already uses, or a new policy moved before the policy that decides the addresses today
  (named with its file:line), inside ``config vdom`` for a VDOM.
- ``edit`` of an object that exists changes it in place, and ``append`` of a member the group
  has changes nothing: the script can be run again.
- ``--prune`` with ``--scope GROUP``: the address objects this tool names (``auditor-CIDR``)
  for the extra CIDRs are unselected from the group, then deleted. An object of another name
  that holds an extra address stays (its name is not known here): the prune lists the CIDRs to
  look for. FortiOS refuses to delete an address another group or policy still uses, and to
  empty a group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import fortios_place, objects, sanitize
from auditor.rules.artifacts import Artifact, chunk_name, chunks
from auditor.rules.base import Generator, RuleOptions, stale

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
POLICY_ID = re.compile(r"[1-9][0-9]{0,9}")
PAIR = re.compile(r"(?:[A-Za-z0-9_.-]+/)?[^\s:/\"\\]+:[^\s:/\"\\]+")
"""``--chain`` as the fortios reader takes it: ``[VDOM/]SRC:DST``."""
MAX_POLICY_NAME = 35
"""A policy's ``name``: 35 characters as remembered of the CLI reference for ``config firewall
policy``; no stored page was found to confirm it, so names are kept within it."""
ADDRESS = {4: "address", 6: "address6"}
GROUP = {4: "addrgrp", 6: "addrgrp6"}


def object_name(block: MissingBlock) -> str:
    return f"{objects.PREFIX}-{objects.cidr_label(block)}"


def subnet(block: MissingBlock) -> str:
    if block.family == 4:
        return f"set subnet {objects.address(block)} {objects.mask(block)}"
    return f"set ip6 {sanitize.cidr(block)}"


def quoted(names: Sequence[str]) -> str:
    return " ".join(f'"{n}"' for n in names)


class FortiosGenerator(Generator):
    name = "fortios"
    description = "FortiOS CLI: firewall address/address6 objects in addrgrp/addrgrp6 groups"
    families = (4, 6)
    max_name_len = 63
    """Address and address-group names: 63 characters in FortiOS 6.0 (``size[63]`` in its CLI
    reference for ``firewall address`` and ``firewall addrgrp``,
    docs.fortinet.com/document/fortigate/6.0.0/cli-reference/843701); 6.4 and 7.x take 79
    ("Maximum length: 79", docs.fortinet.com/document/fortigate/6.4.6/cli-reference/254620),
    so 63 fits every release."""
    max_comment_len = 255
    max_group_members: ClassVar[int] = 300
    """Members of one address group on the smaller models (larger ones take 600 or more). The
    CLI reference gives no member count (``config firewall addrgrp``, FortiOS 6.4.6: only each
    member name's 79 characters); the per-model table (``print tablesize``) was not found for
    FortiGate: kept as it was."""
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_group_members} members a group"]

    def check_options(self, options: RuleOptions) -> None:
        given = objects.chain_given(options)
        if given is not None and not (POLICY_ID.fullmatch(given) or PAIR.fullmatch(given)):
            raise UsageError(
                f"fortios --chain names the policy to place the new one before, by its id,"
                f" or an interface pair SRC:DST; {given!r} is neither",
                hint="give the id of the policy that denies these addresses (--chain 12),"
                " the interface pair (--chain port1:port2), or leave out --chain",
            )
        objects.check_names(
            self.name,
            replace(options, chain=objects.DEFAULT_CHAIN),
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
            self.max_name_len,
        )

    def policy(
        self,
        family: int,
        groups: Sequence[str],
        options: RuleOptions,
        placed: fortios_place.Placed | None = None,
    ) -> list[str]:
        """A new accept policy from ``groups`` on the service: ``edit 0`` takes a free id
        (moved before the policy that decides the addresses, when ``placed`` names one)."""
        given = objects.chain_given(options) or ""
        srcintf, dstintf = "", ""
        if PAIR.fullmatch(given):
            srcintf, _, dstintf = given.rpartition("/")[2].partition(":")
        if placed is not None:
            srcintf, dstintf = placed.srcintf, placed.dstintf
        service = options.service
        svc = "ALL"
        lines = []
        if service.protocol != "any":
            svc = objects.default_name(service)
            ports = service.port_list(" ", "-") or "1-65535"
            lines += [
                "config firewall service custom",
                f'    edit "{svc}"',
                f"        set {service.protocol}-portrange {ports}",
                "    next",
                "end",
            ]
        src, dst = ("srcaddr", "dstaddr") if family == 4 else ("srcaddr6", "dstaddr6")
        lines += [
            "config firewall policy",
            "    edit 0",
            f'        set name "{self.policy_name(family, options)}"',
            f'        set srcintf "{srcintf or "any"}"',
            f'        set dstintf "{dstintf or "any"}"',
            f"        set {src} {quoted(groups)}",
            f'        set {dst} "all"',
            "        set action accept",
            '        set schedule "always"',
            f'        set service "{svc}"',
            "    next",
        ]
        if placed is not None and placed.blocker_id:
            lines.append(f"    move {placed.new_id} before {placed.blocker_id}")
        lines.append("end")
        return lines

    def policy_name(self, family: int, options: RuleOptions) -> str:
        suffix = f"-v{family}"
        return objects.default_name(options.service)[: MAX_POLICY_NAME - len(suffix)] + suffix

    def groups(
        self, family: int, names: Sequence[str], options: RuleOptions, into: str | None = None
    ) -> list[tuple[str, Sequence[str]]]:
        base = (
            into
            or objects.scope_name(options)
            or (f"{objects.default_name(options.service)}-v{family}")
        )
        runs = list(chunks(names, self.max_group_members))
        return [
            (chunk_name(base, i, len(runs), self.max_name_len), run) for i, run in enumerate(runs)
        ]

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        how = "paste into the CLI (or System > Settings > Scripts: run FILE)"
        check = "show firewall addrgrp (after running; diagnose the policy with a test packet)"
        arts = []
        made = 0  # new policies of the families before: edit 0 gives this one a later id
        for family, mine in objects.by_family(blocks).items():
            placed = fortios_place.place(options, family, mine)
            into = placed.group if placed is not None else None
            scoped = objects.scope_name(options) is not None or into is not None
            after = made
            if placed is not None and not scoped:
                placed = replace(placed, new_id=placed.new_id + made)
                made += 1
            names = [object_name(b) for b in mine]
            groups = self.groups(family, names, options, into if not options.scope else None)
            lines = []
            before = objects.chain_given(options)
            if before is not None and not POLICY_ID.fullmatch(before):
                before = None  # an interface pair: the new policy's interfaces
            if scoped and placed is not None and into is not None and not options.scope:
                lines += [
                    f"# Appended to addrgrp {into}, which {placed.group_policy} uses to accept",
                    "# the service"
                    + (f", ahead of {placed.blocker}, which decides these addresses today."
                       if placed.blocker else "."),
                ]  # fmt: skip
            elif scoped:
                lines.append(f"# Appended to {groups[0][0]}, which the allowing policy uses.")
            elif placed is not None:
                name = self.policy_name(family, options)
                if placed.blocker:
                    lines += [
                        f"# Today {placed.blocker} decides these addresses: a new policy {name}",
                        "# accepts the groups and is moved before it. edit 0 takes the next free",
                        f"# id, {placed.new_id} in {placed.source} as audited; the move names it.",
                        *(
                            [
                                "# That is after the IPv4 script's new policy: run the IPv4",
                                "# script first.",
                            ]
                            if after
                            else []
                        ),
                        f"# Before running it, `show firewall policy {placed.new_id}` must show"
                        " nothing (and",
                        f"# no id above {placed.new_id} exist): otherwise the move would take"
                        " another policy;",
                        "# then run it without the move and move the new policy by its id.",
                        "# Run it once: edit 0 makes another policy each time.",
                    ]
                else:
                    lines += [
                        "# Today no policy accepts these addresses (the implicit deny): a new",
                        f"# policy {name} at the end of the list accepts the groups.",
                        "# Run it once: edit 0 makes another policy each time.",
                    ]
            elif before is not None:
                name = self.policy_name(family, options)
                lines += [
                    f"# A new policy {name} accepts the groups; it must come before policy",
                    f"# {before}, which denies these addresses. Once the script ran, find its id",
                    f"# (show firewall policy | grep -f {name}) and move it:",
                    f"#   config firewall policy / move NEW-ID before {before} / end",
                    f"# srcintf and dstintf are any: narrow them to those of policy {before}.",
                    "# Run it once: edit 0 makes another policy each time.",
                ]
            else:
                lines += [
                    "# New groups: add them to the srcaddr of the policy that allows the",
                    "# service (config firewall policy, edit ID, append srcaddr NAME), which",
                    "# must come ahead of the policy that denies these addresses.",
                ]
            lines.append(f"config firewall {ADDRESS[family]}")
            for block, name in zip(mine, names, strict=True):
                lines += [f'    edit "{name}"', f"        {subnet(block)}"]
                note = self.origins_comment(block.origins)
                if note:
                    lines.append(f'        set comment "{note}"')
                lines.append("    next")
            lines += ["end", f"config firewall {GROUP[family]}"]
            for group, members in groups:
                lines += [f'    edit "{group}"', f"        append member {quoted(members)}"]
                lines.append("    next")
            lines.append("end")
            back = []
            if placed is not None and not scoped:
                lines += self.policy(family, [g for g, _ in groups], options, placed)
                back += [
                    "config firewall policy",
                    f"    delete {placed.new_id}",
                    "end",
                    f"# (policy {placed.new_id}: the new one, as audited; check"
                    f" `show firewall policy {placed.new_id}` first)",
                ]
            elif before is not None and not scoped:
                lines += self.policy(family, [g for g, _ in groups], options)
                back += [
                    f"# First delete policy {self.policy_name(family, options)}: find its id"
                    f" (show firewall policy | grep -f {self.policy_name(family, options)}),",
                    "#   config firewall policy / delete ID / end",
                    "# (a group a policy uses cannot be deleted).",
                ]
            back += [f"config firewall {GROUP[family]}"]
            for group, members in groups:
                if scoped:
                    back += [f'    edit "{group}"', f"        unselect member {quoted(members)}"]
                    back.append("    next")
                else:
                    back.append(f'    delete "{group}"')
            back += ["end", f"config firewall {ADDRESS[family]}"]
            back += [f'    delete "{name}"' for name in names]
            back.append("end")
            if (
                (before is not None or placed is not None)
                and not scoped
                and (options.service.protocol != "any")
            ):
                svc = objects.default_name(options.service)
                back += ["config firewall service custom", f'    delete "{svc}"', "end"]
            vdom = placed.vdom if placed is not None else None
            body = "\n".join(fortios_place.in_vdom(lines, vdom)) + "\n"
            arts.append(Artifact("apply", family, body, "conf", how, check, cidrs=len(mine)))
            arts.append(
                Artifact(
                    "rollback",
                    family,
                    "\n".join(fortios_place.in_vdom(back, vdom)) + "\n",
                    "conf",
                    how,
                    check,
                    cidrs=len(mine),
                )
            )
        return arts + self._prune(options, how, check)

    def _prune(self, options: RuleOptions, how: str, check: str) -> list[Artifact]:
        scope = objects.scope_name(options)
        if scope is None:
            return []
        arts = []
        found = stale(options)
        for family, extra in objects.by_family(found.blocks).items():
            names = [object_name(b) for b in extra]
            lines = [
                f"# REMOVES the extra entries of {GROUP[family]} {scope}: review before use.",
                *(f"# {note}" for note in found.kept),
                "# Only the objects this tool names (auditor-CIDR) are unselected and deleted;",
                "# an object of another name that holds one of these CIDRs stays: look for it",
                "# (Policy & Objects > Addresses) and remove it by hand:",
                *(f"#   {sanitize.cidr(b)}" for b in extra),
                f"config firewall {GROUP[family]}",
                f'    edit "{scope}"',
                *(f'        unselect member "{name}"' for name in names),
                "    next",
                "end",
                f"config firewall {ADDRESS[family]}",
                *(f'    delete "{name}"' for name in names),
                "end",
            ]
            placed = fortios_place.place(options, family, extra)
            vdom = placed.vdom if placed is not None else None
            body = "\n".join(fortios_place.in_vdom(lines, vdom)) + "\n"
            arts.append(Artifact("prune", family, body, "conf", how, check, cidrs=len(extra)))
        return arts
