"""Terraform: resource blocks for AWS, Azure or Google Cloud, one file per family.

Choices an admin should know about (they are also written into the output):

- ``terraform`` writes for the cloud of the declared export (``aws-security-group``,
  ``azure-nsg``, ``gcp-firewall``), AWS when none was read (the output says so);
  ``terraform-aws``, ``terraform-azure`` and ``terraform-gcp`` name the cloud. The objects,
  priorities and limits are those of the ``aws``, ``azure`` and ``gcloud`` platforms: the
  same security group (and quota split), the same free NSG priorities ahead of the deny, the
  same priority ahead of the VPC denies and 256 ranges per rule. An object the export does
  not name is a variable the configuration has to set (``var.allowlist_auditor_group_id``,
  ``var.allowlist_auditor_nsg_name`` ...).
- ``aws_vpc_security_group_ingress_rule``: one resource per CIDR and port range, as the AWS
  provider manages them; ``azurerm_network_security_rule`` and ``google_compute_firewall``:
  one resource per rule. New resources only: a rule that Terraform already manages is not
  edited, and one that it does not manage is not imported.
- The rollback is a script: ``terraform apply -destroy`` of exactly these resources, then the
  file is removed from the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact, chunk_name
from auditor.rules.aws import FORMAT as AWS_FORMAT
from auditor.rules.aws import AwsGenerator
from auditor.rules.azure import FORMAT as AZURE_FORMAT
from auditor.rules.azure import AzureGenerator
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.cloud import SCRIPT_START, command
from auditor.rules.gcloud import FORMAT as GCP_FORMAT
from auditor.rules.gcloud import GcloudGenerator


class Raw(str):
    """An HCL expression written as it is (``string``, ``var.name``), never from an input."""


Value = str | int | list[str]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class Block:
    """An HCL block: a type, labels, then attributes and nested blocks, in order."""

    def __init__(self, kind: str, labels: Sequence[str], items: Sequence[Item]) -> None:
        self.kind, self.labels, self.items = kind, list(labels), list(items)

    def render(self, indent: str = "") -> list[str]:
        """As ``terraform fmt`` writes it: the ``=`` of neighbouring attributes aligned."""
        head = " ".join([self.kind, *(string(label) for label in self.labels)])
        lines = [f"{indent}{head} {{"]
        inner = indent + "  "
        run: list[tuple[str, Value]] = []

        def flush() -> None:
            width = max((len(k) for k, _ in run), default=0)
            lines.extend(f"{inner}{k.ljust(width)} = {value(v)}" for k, v in run)
            run.clear()

        for item in self.items:
            if isinstance(item, Block):
                flush()
                lines.extend(item.render(inner))
            else:
                run.append(item)
        flush()
        lines.append(f"{indent}}}")
        return lines


Item = tuple[str, Value] | Block


def string(text: str) -> str:
    """An HCL quoted string: quotes, backslashes and template starts escaped, no newline
    (the texts are cleaned already; this is the second fence)."""
    if any(c in text for c in "\r\n\x00"):
        raise ValueError("a Terraform string in this output holds no line break")
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("${", "$${").replace("%{", "%%{") + '"'


def value(v: Value) -> str:
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(string(x) for x in v) + "]"
    if isinstance(v, Raw):
        return str(v)
    return string(v)


def ident(*parts: str) -> str:
    """A resource name: letters, digits and ``_`` of the parts, joined by ``_``."""
    text = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts if p)
    return text if _IDENT.fullmatch(text) else f"r_{text}"


def _var(name: str) -> Block:
    return Block("variable", [name], [("type", Raw("string"))])


class TerraformBase(Generator):
    """What the three clouds share: a .tf file per family and a rollback script."""

    cloud: ClassVar[str] = ""
    backend: ClassVar[type[Generator]]
    """The cloud's own platform: its option checks and its limits are the resources' too."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        backend = cls.__dict__.get("backend")
        if backend is not None:
            cls.max_comment_len = backend.max_comment_len
            cls.max_name_len = backend.max_name_len

    def check_options(self, options: RuleOptions) -> None:
        self.backend().check_options(options)

    def resources(
        self, family: int, blocks: list[MissingBlock], options: RuleOptions
    ) -> tuple[list[Block], list[str]]:
        """The resource blocks (and variables) for one family, and comment lines."""
        raise NotImplementedError

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts = []
        for family in self.families:
            mine = [b for b in sanitize.sorted_blocks(blocks) if b.family == family]
            if not mine:
                continue
            made, notes = self.resources(family, mine, options)
            body = [f"# {sanitize.clean(n)}" for n in notes]
            for blk in made:
                body += ["", *blk.render()]
            addresses = [f"{b.labels[0]}.{b.labels[1]}" for b in made if b.kind == "resource"]
            back = [
                SCRIPT_START,
                "# Destroys exactly the resources of the apply file; then remove that file from"
                " the configuration.",
                command(["terraform", "apply", "-destroy", *(f"-target={a}" for a in addresses)]),
            ]
            n = len(mine)
            how = "copy FILE into the Terraform configuration, then terraform plan and apply"
            check = "terraform fmt -check FILE, then terraform validate"
            arts.append(
                Artifact("apply", family, "\n".join(body).lstrip("\n") + "\n", "tf", how, check,
                         cidrs=n)
            )  # fmt: skip
            arts.append(
                Artifact("rollback", family, "\n".join(back) + "\n", "sh",
                         "bash FILE in the Terraform configuration's directory", script=True,
                         cidrs=n)
            )  # fmt: skip
        return arts


class TerraformAwsGenerator(TerraformBase):
    name = "terraform-aws"
    description = "Terraform aws_vpc_security_group_ingress_rule resources, one per CIDR and port"
    cloud = "aws"
    backend = AwsGenerator

    def resources(
        self, family: int, blocks: list[MissingBlock], options: RuleOptions
    ) -> tuple[list[Block], list[str]]:
        aws = AwsGenerator()
        target = aws.target(options)
        service = options.service
        per_cidr = len(service.ports) if service.protocol != "any" and service.ports else 1
        places = aws._groups_for(family, len(blocks), target, per_cidr)
        made: list[Block] = []
        notes = [f"Security group {target.group}: {target.why}."]
        start = 0
        for group, size in places:
            ref: str = group
            if group.startswith("$"):
                var = "allowlist_auditor_" + group[1:].lower()
                made.append(_var(var))
                ref = Raw(f"var.{var}")
            for b in blocks[start : start + size]:
                cidr = sanitize.cidr(b)
                desc = aws.origins_comment(b.origins)
                ports = service.ports if service.protocol != "any" else ()
                for lo, hi in ports or ((None, None),):
                    items: list[Item] = [
                        ("security_group_id", ref),
                        ("cidr_ipv4" if family == 4 else "cidr_ipv6", cidr),
                        ("ip_protocol", service.protocol if service.protocol != "any" else "-1"),
                    ]
                    if lo is not None and hi is not None:
                        items += [("from_port", lo), ("to_port", hi)]
                    if desc:
                        items.append(("description", desc))
                    port = (
                        ""
                        if lo is None
                        else f"{service.protocol}_{lo}" + ("" if lo == hi else f"_{hi}")
                    )
                    name = ident("allowlist_auditor", cidr, port or "all")
                    made.append(Block("resource", ["aws_vpc_security_group_ingress_rule", name],
                                      items))  # fmt: skip
            start += size
        notes.append("Security groups only allow, in no order: the rules take effect anywhere.")
        if len(places) > 1 or target.group.startswith("$"):
            notes.append("Set the variables: the groups the rules go to (sg-...).")
        return made, notes


class TerraformAzureGenerator(TerraformBase):
    name = "terraform-azure"
    description = "Terraform azurerm_network_security_rule resources at free NSG priorities"
    cloud = "azure"
    backend = AzureGenerator

    def resources(
        self, family: int, blocks: list[MissingBlock], options: RuleOptions
    ) -> tuple[list[Block], list[str]]:
        az = AzureGenerator()
        service = options.service
        base = az.rule_base(service)
        cidrs = [sanitize.cidr(b) for b in blocks]
        step = az.max_prefixes
        runs = [cidrs[i : i + step] for i in range(0, len(cidrs), step)]
        names = [
            chunk_name(f"{base}-v{family}", i, len(runs), az.max_name_len) for i in range(len(runs))
        ]
        origins = sorted({o.source for b in blocks for o in b.origins})
        desc = az.comment([service.describe(), *origins])
        made: list[Block] = []
        notes = []
        for nsg in az.targets(options):
            bound = az._bound(nsg, blocks, options)
            prios = az._priorities(nsg, names, bound)
            refs: list[tuple[str, Value]] = []
            for field, known in (
                ("resource_group_name", nsg.group),
                ("network_security_group_name", nsg.name),
            ):
                if known.startswith("$"):
                    var = "allowlist_auditor_" + known[1:].lower()
                    if not any(b.kind == "variable" and b.labels == [var] for b in made):
                        made.append(_var(var))
                    refs.append((field, Raw(f"var.{var}")))
                else:
                    refs.append((field, known))
            ahead = f"the deny at {bound}" if bound <= 4096 else "DenyAllInBound"
            notes.append(f"{nsg.name}: priority {', '.join(map(str, prios))}, ahead of {ahead}.")
            for name, run, prio in zip(names, runs, prios, strict=True):
                items: list[Item] = [
                    ("name", name), ("priority", prio), ("direction", "Inbound"),
                    ("access", "Allow"),
                    ("protocol", "*" if service.protocol == "any" else service.protocol.title()),
                    ("source_port_range", "*"),
                ]  # fmt: skip
                if service.protocol == "any" or not service.ports:
                    items.append(("destination_port_range", "*"))
                else:
                    ports = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports]
                    items.append(("destination_port_ranges", ports))
                items += [("source_address_prefixes", run), ("destination_address_prefix", "*")]
                items += refs
                if desc:
                    items.append(("description", desc))
                label = ident(name, nsg.name.lstrip("$").lower())
                made.append(Block("resource", ["azurerm_network_security_rule", label], items))
        return made, notes


class TerraformGcpGenerator(TerraformBase):
    name = "terraform-gcp"
    description = "Terraform google_compute_firewall resources, 256 source ranges each"
    cloud = "gcp"
    backend = GcloudGenerator

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        return GcloudGenerator().unfixed(blocks, options)

    def resources(
        self, family: int, blocks: list[MissingBlock], options: RuleOptions
    ) -> tuple[list[Block], list[str]]:
        gc = GcloudGenerator()
        service = options.service
        network = gc.network(options)
        origins = sorted({o.source for b in blocks for o in b.origins})
        desc = gc.comment([service.describe(), *origins])
        made: list[Block] = []
        notes = []
        for plan in gc.plans(blocks, options):
            if plan.family != family:
                continue
            notes.append(f"Network {network}, priority {plan.priority}: ahead of the denies.")
            # new rules only: what the gcloud platform adds to an allow rule is a rule here
            cidrs = [sanitize.cidr(b) for b in plan.blocks]
            step = gc.max_ranges
            runs = [cidrs[i : i + step] for i in range(0, len(cidrs), step)]
            base = f"{gc.rule_base(service)}-v{family}"
            for i, run in enumerate(runs):
                name = chunk_name(base, i, len(runs), gc.max_name_len)
                allow: list[Item] = [
                    ("protocol", "all" if service.protocol == "any" else service.protocol)
                ]
                if service.protocol != "any" and service.ports:
                    allow.append(
                        (
                            "ports",
                            [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports],
                        )
                    )
                items: list[Item] = [
                    ("name", name), ("network", network), ("direction", "INGRESS"),
                    ("priority", plan.priority), ("source_ranges", list(run)),
                ]  # fmt: skip
                if desc:
                    items.append(("description", desc))
                items.append(Block("allow", [], allow))
                made.append(Block("resource", ["google_compute_firewall", ident(name)], items))
        return made, notes


PLATFORMS: dict[str, type[TerraformBase]] = {
    AWS_FORMAT: TerraformAwsGenerator,
    AZURE_FORMAT: TerraformAzureGenerator,
    GCP_FORMAT: TerraformGcpGenerator,
}


class TerraformGenerator(Generator):
    name = "terraform"
    description = (
        "Terraform resources for the cloud of the declared export (aws, azurerm, google);"
        " terraform-aws, terraform-azure, terraform-gcp name it"
    )
    max_comment_len = 140

    def check_options(self, options: RuleOptions) -> None:
        for cls in PLATFORMS.values():
            cls().check_options(options)

    def chosen(self, options: RuleOptions) -> TerraformBase:
        """The cloud of the first declared export of one; AWS when none was read."""
        for rs in options.declared:
            cls = PLATFORMS.get(rs.info.format)
            if cls is not None:
                return cls()
        return TerraformAwsGenerator()

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        return self.chosen(options).unfixed(blocks, options)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        gen = self.chosen(options)
        arts = gen.artifacts(blocks, options)
        if any(rs.info.format in PLATFORMS for rs in options.declared):
            return arts
        note = (
            "# No aws, azure or gcp export was read: these are AWS resources;"
            " terraform-azure and terraform-gcp write for the other clouds.\n"
        )
        return [replace(a, body=note + a.body) if a.suffix == "tf" else a for a in arts]
