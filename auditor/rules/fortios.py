"""Fortinet FortiOS: ``config firewall address`` (IPv4) and ``address6`` (IPv6) objects, one per
CIDR, in ``addrgrp`` / ``addrgrp6`` groups, as a CLI script (paste it into the CLI, or run it
from System > Settings > Scripts).

- Names: at most 79 characters; the objects made here are ``auditor-192.0.2.0_24``.
- A group holds at most :attr:`FortiosGenerator.max_group_members` members here (the smaller
  models' limit); more go into ``NAME-2``, ``NAME-3``...
- With ``--scope``, the objects are appended to that group (``append member``), which the
  policy allowing the service already uses: they take effect at once. Otherwise the groups
  are new, and take effect once a policy ahead of the deny names them (``append srcaddr``, or a
  new policy moved with ``move ID before ID``): FortiOS cannot be told a policy position here
  without its id.
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
from typing import ClassVar

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact, chunk_name, chunks
from auditor.rules.base import Generator, RuleOptions

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
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

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            options,
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
            self.max_name_len,
            chain=False,
        )

    def groups(
        self, family: int, names: Sequence[str], options: RuleOptions
    ) -> list[tuple[str, Sequence[str]]]:
        base = objects.scope_name(options) or (f"{objects.default_name(options.service)}-v{family}")
        runs = list(chunks(names, self.max_group_members))
        return [
            (chunk_name(base, i, len(runs), self.max_name_len), run) for i, run in enumerate(runs)
        ]

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        how = "paste into the CLI (or System > Settings > Scripts: run FILE)"
        check = "show firewall addrgrp (after running; diagnose the policy with a test packet)"
        scoped = objects.scope_name(options) is not None
        arts = []
        for family, mine in objects.by_family(blocks).items():
            names = [object_name(b) for b in mine]
            groups = self.groups(family, names, options)
            lines = []
            if scoped:
                lines.append(f"# Appended to {groups[0][0]}, which the allowing policy uses.")
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
            back = [f"config firewall {GROUP[family]}"]
            for group, members in groups:
                if scoped:
                    back += [f'    edit "{group}"', f"        unselect member {quoted(members)}"]
                    back.append("    next")
                else:
                    back.append(f'    delete "{group}"')
            back += ["end", f"config firewall {ADDRESS[family]}"]
            back += [f'    delete "{name}"' for name in names]
            back.append("end")
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("apply", family, body, "conf", how, check, cidrs=len(mine)))
            arts.append(
                Artifact(
                    "rollback",
                    family,
                    "\n".join(back) + "\n",
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
        for family, extra in objects.by_family(options.prune).items():
            names = [object_name(b) for b in extra]
            lines = [
                f"# REMOVES the extra entries of {GROUP[family]} {scope}: review before use.",
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
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("prune", family, body, "conf", how, check, cidrs=len(extra)))
        return arts
