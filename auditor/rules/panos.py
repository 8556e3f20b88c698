"""Palo Alto PAN-OS: ``set address`` objects (one per CIDR, both families), static
``address-group`` objects that hold them, a service object and a security rule moved to the
top of the rulebase, as set commands for the CLI's configuration mode, then ``commit``.

- Names: at most 63 characters, starting with a letter, digit or ``_``, then letters, digits,
  ``_``, ``-`` and ``.``. The objects made here are ``auditor-192.0.2.0_24``.
- A static group holds at most :attr:`PanosGenerator.max_group_members` members here; more go
  into ``NAME-2``, ``NAME-3``..., all of which the rule names.
- Placement: for a declared PAN-OS configuration (``--rules auto``), ``move rulebase security
  rules RULE before OTHER``, OTHER being the first rule that denies (or may deny) the missing
  addresses today, named in the body with its file:line or XML path; otherwise ``move ...
  top`` puts the rule ahead of every deny. ``--chain FROM:TO`` names the zones (``from`` and
  ``to``; ``NAME/FROM:TO`` as the reader takes it), ``--chain FROM`` the source zone alone;
  otherwise ``any``.
- With ``--scope``, the objects go into that address group, which the existing rule already
  uses, and no rule is written.
- ``set`` of what exists already changes nothing, so the file can be loaded again.
- Where: ``--chain NAME/FROM:TO`` (or the declared configuration's only vsys or device group)
  prefixes every line with ``vsys NAME`` or ``device-group NAME`` (whose rule goes into its
  ``pre-rulebase``), and the rule is placed by that one's rule order; a firewall with one vsys
  takes the lines as they are. Several vsys or device groups without a name are refused.
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
from dataclasses import replace
from typing import ClassVar

from auditor.errors import UsageError
from auditor.model import MissingBlock, RuleRef
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact, chunk_name, chunks
from auditor.rules.base import Generator, RuleOptions, audited_bytes, stale

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


HOW = "paste the lines below the # lines into the CLI's configuration mode (configure), then commit"
CHECK = "validate full (after pasting, before commit)"


def object_name(block: MissingBlock) -> str:
    return f"{objects.PREFIX}-{objects.cidr_label(block)}"


def zones(options: RuleOptions) -> tuple[str, str]:
    """The rule's ``from`` and ``to`` zones: ``--chain FROM:TO`` (``NAME/FROM:TO``), ``--chain
    FROM``, or ``any``."""
    given = objects.chain_given(options)
    if given is None:
        return "any", "any"
    pair = given.rpartition("/")[2]
    src, _, dst = pair.partition(":")
    return src, dst or "any"


RULE_NAME = re.compile(r"[A-Za-z0-9_. -]+")


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


VSYS = re.compile(r"vsys[0-9]+")


def context(options: RuleOptions) -> tuple[str, str, str | None]:
    """Where the lines go: the path prefix (``vsys NAME `` or ``device-group NAME ``, "" for a
    firewall with one vsys), the rulebase of the rule, and the vsys or device group whose rule
    order places it. ``--chain NAME/FROM:TO`` names it; without a name, the declared
    configuration's only one."""
    from auditor.allowlists.appliances.panos import contexts

    given = objects.chain_given(options) or ""
    name = given.rpartition("/")[0] if "/" in given else ""
    found: list[tuple[str, str]] = []
    for rs in options.declared:
        data = audited_bytes(rs) if rs.info.format == "panos" else None
        if data is not None:
            found += contexts(data, rs.info.name)
    found = list(dict.fromkeys(found))
    listing = ", ".join(n for _, n in found)
    if not name:
        if len(found) > 1:
            raise UsageError(
                f"the configuration has several vsys or device groups ({listing}): which one"
                " takes the rule?",
                hint=f"give --chain NAME/FROM:TO, such as {found[0][1]}/untrust:trust",
            )
        if not found or found[0] == ("vsys", "vsys1"):
            return "", "rulebase", None
        kind, name = found[0]
    else:
        kinds = [k for k, n in found if n == name]
        if kinds:
            kind = kinds[0]
        elif found:
            raise UsageError(
                f"no vsys or device group {name!r} in the declared configuration",
                hint=f"--chain NAME/FROM:TO names one of: {listing}",
            )
        elif VSYS.fullmatch(name):
            kind = "vsys"
        else:
            raise UsageError(
                f"cannot tell whether {name!r} is a vsys or a device group",
                hint="give the declared configuration (-d CONFIG --rules auto), or name a vsys"
                " (vsys2/FROM:TO)",
            )
        if found == [("vsys", name)] and name == "vsys1":
            return "", "rulebase", name
    if not NAME.fullmatch(name) or len(name) > PanosGenerator.max_name_len:
        raise UsageError(
            f"{kind} {sanitize.clean(name)[:63]!r} has a name that cannot be written safely",
            hint="rename it (letters, digits, '_', '.', '-'), or write the lines by hand",
        )
    base = "pre-rulebase" if kind == "device-group" else "rulebase"
    return f"{kind} {name} ", base, name


def blocking_rule(
    blocks: Sequence[MissingBlock], options: RuleOptions, only: str | None = None
) -> RuleRef | None:
    """The first rule of a declared PAN-OS configuration that decides a missing block today
    (denies it, or may): a rule placed before it takes effect. None when only the default
    rules decide them, or the configuration cannot be read again as it was audited.
    ``only``: the order of that vsys or device group."""
    from auditor.allowlists.appliances.panos import rule_order

    best: tuple[int, RuleRef] | None = None
    for rs in options.declared:
        if rs.info.format != "panos":
            continue
        data = audited_bytes(rs)
        if data is None:
            continue
        order = rule_order(data, rs.info.name, only)
        for v in rs.verdicts:
            for block in blocks:
                if block.family != v.family:
                    continue
                last = block.network + block.size - 1
                for seg in v.segments:
                    if seg.last < block.network or seg.first > last or seg.outcome == "accept":
                        continue
                    key = (seg.rule.origin.line, seg.rule.origin.path)
                    rank = order.get(key)
                    if rank is not None and (best is None or rank < best[0]):
                        best = (rank, seg.rule)
    return best[1] if best else None


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
        allowed = "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'"
        objects.check_names(self.name, replace(options, chain=objects.DEFAULT_CHAIN), NAME,
                            allowed, self.max_name_len)  # fmt: skip
        given = objects.chain_given(options)
        if given is not None:
            ctx, _, pair = given.rpartition("/")
            for part in [ctx, *pair.split(":", 1)] if ctx else pair.split(":", 1):
                if not NAME.fullmatch(part) or len(part) > self.max_name_len:
                    raise UsageError(
                        f"chain {given!r} cannot be used for {self.name}",
                        hint="give --chain FROM:TO (zones), such as untrust:trust; zone names"
                        f" are {allowed}, at most {self.max_name_len} characters",
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
        at, base, only = context(options)
        names = [object_name(b) for b in ordered]
        for block, name in zip(ordered, names, strict=True):
            lines.append(f"set {at}address {name} ip-netmask {sanitize.cidr(block)}")
            note = self.origins_comment(block.origins)
            if note:
                lines.append(f'set {at}address {name} description "{note}"')
        groups = self.groups(names, options)
        for group, members in groups:
            lines.append(f"set {at}address-group {group} static [ {' '.join(members)} ]")
        back = []
        blocking: RuleRef | None = None
        if scoped:
            back += [f"delete {at}address-group {g} static [ {' '.join(m)} ]" for g, m in groups]
        else:
            svc = "any"
            if service.protocol != "any":
                svc = rule
                ports = service.port_list(",", "-")
                lines.append(f"set {at}service {svc} protocol {service.protocol} port {ports}")
            src, dst = zones(options)
            sources = " ".join(g for g, _ in groups)
            path = f"{at}{base} security rules {rule}"
            lines += [
                f"set {path} from {src} to {dst} source [ {sources} ] destination any",
                f"set {path} application any service {svc} action allow",
            ]
            blocking = blocking_rule(ordered, options, only)
            before = (
                blocking.text.removeprefix("security rule ").partition(":")[0] if blocking else ""
            )
            if blocking is not None and RULE_NAME.fullmatch(before):
                lines.append(f"move {path} before {_quoted(before)}")
            else:
                blocking = None
                lines.append(f"move {path} top")
            back.append(f"delete {path}")
            back += [f"delete {at}address-group {g}" for g, _ in groups]
            if svc != "any":
                back.append(f"delete {at}service {svc}")
        back += [f"delete {at}address {name}" for name in names]
        if scoped:
            head = [f"# Into address-group {groups[0][0]}, which the allowing rule already uses."]
        elif blocking is not None:
            where = sanitize.clean(str(blocking.origin))
            before = sanitize.clean(before)
            head = [
                f"# The rule is moved before rule {before} ({where}), which decides these"
                " addresses today."
            ]
        else:
            head = ["# The rule is moved to the top of the rulebase, ahead of any deny."]
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
        at = context(options)[0]
        lines = [
            f"# REMOVES the extra entries of address-group {scope}: review before use.",
            *(f"# {note}" for note in found.kept),
            "# Only the objects this tool names (auditor-CIDR) are taken out and deleted; an",
            "# object of another name that holds one of these CIDRs stays: look for it",
            "# (Objects > Addresses, filter on the address) and remove it by hand:",
            *(f"#   {sanitize.cidr(b)}" for b in extra),
            *(f"delete {at}address-group {scope} static {name}" for name in names),
            *(f"delete {at}address {name}" for name in names),
        ]
        body = "\n".join(lines) + "\n"
        return [Artifact("prune", None, body, "txt", HOW, CHECK, cidrs=len(extra))]
