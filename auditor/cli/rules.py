"""``auditor rules``: rules that allow the CIDRs of a source."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli import params as p

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome


@p.takes(*p.FETCHING, *p.LOOKUP, "spf_view")
def command(
    ctx: typer.Context,
    platform: p.PlatformArg,
    source: Annotated[
        str,
        typer.Argument(
            metavar="[SOURCE]",
            help="CIDRs: a text file, a JSON report of `auditor diff`, - (the default), or any"
            " SOURCE of `auditor fetch`.",
        ),
    ] = "-",
    service: p.ServiceOpt = "tcp/25",
    chain: Annotated[str, p.chain("Chain the rules go to (INPUT).")] = "INPUT",
    fmt: p.FormatOpt = None,
    host_bits: p.HostBitsOpt = "fix",
    lenient: p.LenientOpt = False,
    output_file: p.OutputFileOpt = None,
    family: p.FamilyOpt = "all",
    output_dir: p.OutputDirOpt = None,
    **shared: Any,
) -> None:
    """Exit codes: 0 rules written; 2 the source failed or was partial or stale (no rules are
    written from an incomplete list), bad input, bad usage.

    \b
    Examples:
      auditor diff -e nodes.txt -d allow.txt -o cidr | auditor rules nftables
      auditor rules iptables report.json --service smtp,submission
      auditor rules nft github:section=hooks --service https
      auditor rules nft nodes.txt --output-file /etc/nftables.d/allow-mail.nft
      auditor rules iptables report.json --family 4 --output-file v4.rules
      auditor rules iptables report.json --family 4 | iptables-restore --test --noflush

    With --output-file or --family, the output holds only what loads as its header says: for
    iptables, the file for iptables-restore (or ip6tables-restore) of one family.
    """
    p.start(ctx, locals(), lambda opts: _run(opts, platform, source, family, output_dir))


def _run(
    opts: Options,
    platform: str,
    source: str,
    family: str = "all",
    output_dir: Path | None = None,
) -> Outcome:
    from auditor import audit
    from auditor.cli.loading import load_all, rule_blocks
    from auditor.cli.options import family_of
    from auditor.cli.outcome import Outcome, source_complete
    from auditor.cli.output import deliver, err
    from auditor.rules import RuleOptions, generator_for
    from auditor.service import Service

    fam = family_of(family)
    gen = generator_for(platform)
    options = RuleOptions(service=Service.parse(opts.service), chain=opts.chain)
    gen.check(options)
    load_options = opts.load_options("expected", **opts.reading())
    with opts.open() as loader:
        sets = load_all([source], loader, load_options, opts)
    if not source_complete(sets[0], allow_stale=False):
        err("error: no rules written from an incomplete list")
        if opts.output_file is not None:
            err(f"error: not written: {opts.output_file} keeps its previous content")
        return Outcome(complete=False)
    blocks = rule_blocks(audit.blocks_with_origins(sets[0].space, sets))
    if fam is not None:
        blocks = [b for b in blocks if b.family == fam]
    from auditor.cli.rulemaking import provenance
    from auditor.rules.artifacts import Artifact, write_dir

    options = replace(options, provenance=provenance(sets, str(options.service)))
    # one family, or a file: only what loads as its header says (for iptables, the restore
    # file, which `| iptables-restore --test --noflush` takes); else every form, separated
    loadable = opts.output_file is not None or fam is not None
    arts: list[Artifact] = []
    if loadable:
        text = gen.generate_file(blocks, options)
    elif output_dir is not None:  # the artifacts are made once, for the text and the files
        text, arts = gen.generate_with_artifacts(blocks, options, fam)
    else:
        text = gen.generate(blocks, options)
    deliver(text, opts.output_file, output="rules", quiet=False, incomplete=None)
    if output_dir is not None:
        arts = arts or gen.checked_artifacts(blocks, options, fam)
        for path in write_dir(output_dir, gen.name, arts, options.provenance):
            err(f"info: wrote {path}")
    return Outcome()
