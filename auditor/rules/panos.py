"""Palo Alto PAN-OS: ``set address`` objects (one per CIDR, both families), static
``address-group`` objects that hold them, a service object and a security rule moved to the
top of the rulebase, as set commands for the CLI's configuration mode, then ``commit``.

- Names: at most 63 characters, starting with a letter, digit or ``_``, then letters, digits,
  ``_``, ``-`` and ``.``. The objects made here are ``auditor-192.0.2.0_24``.
- A static group holds at most :attr:`PanosGenerator.max_group_members` members here; more go
  into ``NAME-2``, ``NAME-3``..., all of which the rule names.
- Placement: ``move rulebase security rules RULE top`` puts the rule ahead of every deny.
  ``--chain`` names the source zone (``from``); otherwise ``any``.
- With ``--scope``, the objects go into that address group, which the existing rule already
  uses, and no rule is written.
- ``set`` of what exists already changes nothing, so the file can be loaded again. On Panorama
  the same objects go under ``device-group NAME`` (prefix each line).
- The CLI has no comment syntax that is documented for pasting, so every ``#`` line (the
  header and the advice) comes first, and the header says to paste the lines below them.
- ``--prune`` with ``--scope GROUP``: the address objects this tool names (``auditor-CIDR``)
  for the extra CIDRs are taken out of the group and deleted. An object of another name that
  holds an extra address stays (the tool cannot know its name): the prune lists those CIDRs
  to look for. PAN-OS refuses to delete an object another group or rule still uses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact, chunk_name, chunks
from auditor.rules.base import Generator, RuleOptions, stale

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


HOW = "paste the lines below the # lines into the CLI's configuration mode (configure), then commit"
CHECK = "validate full (after pasting, before commit)"


def object_name(block: MissingBlock) -> str:
    return f"{objects.PREFIX}-{objects.cidr_label(block)}"


class PanosGenerator(Generator):
    name = "panos"
    description = "PAN-OS set commands: address objects, address-groups, a security rule on top"
    families = (4, 6)
    max_name_len = 63
    """Names "up to 63 characters" (PAN-OS web interface help, Objects > Address Groups and
    Addresses fields: docs.paloaltonetworks.com/pan-os/8-1/pan-os-web-interface-help/objects/
    objects-address-groups; network-security/security-policy/administration/objects/addresses/
    address-objects-fields)."""
    max_comment_len = 1023
    """An object's ``description``: "up to 1,023 characters" (the Addresses fields page)."""
    max_group_members: ClassVar[int] = 2500
    """Members of one static address group (the smaller models' limit). No vendor page with
    this number was found (the web interface help gives names of 63 characters and
    descriptions of 1023, not a member count); kept as it was."""
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_group_members} members a group"]

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            options,
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
            self.max_name_len,
        )

    def groups(self, names: Sequence[str], options: RuleOptions) -> list[tuple[str, Sequence[str]]]:
        base = objects.scope_name(options) or objects.default_name(options.service)
        runs = list(chunks(names, self.max_group_members))
        return [
            (chunk_name(base, i, len(runs), self.max_name_len), run) for i, run in enumerate(runs)
        ]

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            return self._prune(options)
        return self._apply(ordered, options) + self._prune(options)

    def _apply(self, ordered: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        service = options.service
        scoped = objects.scope_name(options) is not None
        rule = objects.default_name(service)
        how, check = HOW, CHECK
        lines = []
        names = [object_name(b) for b in ordered]
        for block, name in zip(ordered, names, strict=True):
            lines.append(f"set address {name} ip-netmask {sanitize.cidr(block)}")
            note = self.origins_comment(block.origins)
            if note:
                lines.append(f'set address {name} description "{note}"')
        groups = self.groups(names, options)
        for group, members in groups:
            lines.append(f"set address-group {group} static [ {' '.join(members)} ]")
        back = []
        if scoped:
            back += [f"delete address-group {g} static [ {' '.join(m)} ]" for g, m in groups]
        else:
            svc = "any"
            if service.protocol != "any":
                svc = rule
                ports = service.port_list(",", "-")
                lines.append(f"set service {svc} protocol {service.protocol} port {ports}")
            zone = objects.chain_given(options) or "any"
            sources = " ".join(g for g, _ in groups)
            path = f"rulebase security rules {rule}"
            lines += [
                f"set {path} from {zone} to any source [ {sources} ] destination any",
                f"set {path} application any service {svc} action allow",
                f"move {path} top",
            ]
            back.append(f"delete {path}")
            back += [f"delete address-group {g}" for g, _ in groups]
            if svc != "any":
                back.append(f"delete service {svc}")
        back += [f"delete address {name}" for name in names]
        head = (
            [f"# Into address-group {groups[0][0]}, which the allowing rule already uses."]
            if scoped
            else ["# The rule is moved to the top of the rulebase, ahead of any deny."]
        )
        body = "\n".join(head + lines) + "\n"
        count = len(ordered)
        return [
            Artifact("apply", None, body, "txt", how, check, cidrs=count),
            Artifact("rollback", None, "\n".join(back) + "\n", "txt", how, check, cidrs=count),
        ]

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        scope = objects.scope_name(options)
        found = stale(options)
        extra = list(found.blocks)
        if scope is None or not extra:
            return []
        names = [object_name(b) for b in extra]
        lines = [
            f"# REMOVES the extra entries of address-group {scope}: review before use.",
            *(f"# {note}" for note in found.kept),
            "# Only the objects this tool names (auditor-CIDR) are taken out and deleted; an",
            "# object of another name that holds one of these CIDRs stays: look for it",
            "# (Objects > Addresses, filter on the address) and remove it by hand:",
            *(f"#   {sanitize.cidr(b)}" for b in extra),
            *(f"delete address-group {scope} static {name}" for name in names),
            *(f"delete address {name}" for name in names),
        ]
        body = "\n".join(lines) + "\n"
        return [Artifact("prune", None, body, "txt", HOW, CHECK, cidrs=len(extra))]
