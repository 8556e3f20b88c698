"""The rules of ``auditor diff``: which platforms (named, or ``auto``: the platform of each
declared source), for which blocks, one family or both, on standard output and in files of
their own (``--output-dir``), with ``--prune`` for the extra entries of a scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import UsageError

if TYPE_CHECKING:
    from auditor.model import AuditResult, MissingBlock, RangeSet
    from auditor.rules import Generator, RuleOptions
    from auditor.rules.artifacts import Artifact, Provenance

AUTO = "auto"


@dataclass(frozen=True)
class RuleAsk:
    """What was asked of the rules on the command line."""

    platforms: tuple[str, ...] = ()
    family: int | None = None
    output_dir: Path | None = None
    prune: bool = False


@dataclass
class Made:
    rendered: list[tuple[str, str]] = field(default_factory=list)
    """(title, text) per platform, for the report."""
    unfixed: list[tuple[str, list[str]]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    pending: list[tuple[Path, Generator, list[Artifact], Provenance]] = field(default_factory=list)
    """With --output-dir: the files to write, once the run is known to be complete."""
    notes: list[str] = field(default_factory=list)
    """Info lines: declared sources ``auto`` has no platform for."""


def generators(ask: RuleAsk, options: RuleOptions) -> list[Generator]:
    """The generators named (``auto`` is resolved once the declared side is read), each
    checked against the options before anything is read."""
    from auditor.rules import generator_for

    if ask.prune and not options.scope:
        raise UsageError(
            "--prune removes the extra entries of a scope, and no --scope was given",
            hint="name the group, chain, set or security group with --scope",
        )
    asked = {"--output-dir": ask.output_dir, "--family": ask.family, "--prune": ask.prune}
    given = [name for name, value in asked.items() if value]
    if given and not ask.platforms:
        raise UsageError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} about rules, and no"
            " --rules was given",
            hint="add --rules PLATFORM (or --rules auto)",
        )
    gens = [generator_for(name) for name in ask.platforms if name.lower() != AUTO]
    for gen in gens:
        gen.check(options)
        if ask.prune and not gen.prunes:
            raise UsageError(
                f"{gen.name} rules cannot remove entries yet (--prune)",
                hint="leave out --prune, or choose a platform that can",
            )
    return gens


def for_sources(declared: Sequence[RangeSet]) -> tuple[list[tuple[RangeSet, str]], list[str]]:
    """``auto``: each declared source with the platform of its format, and a note for each
    source whose format has none."""
    from auditor.plugins import PLATFORM_OF_FORMAT

    chosen, notes = [], []
    for rs in declared:
        platform = PLATFORM_OF_FORMAT.get(rs.info.format)
        if platform is None:
            notes.append(
                f"{rs.info.name}: no rules for its format ({rs.info.format}); --rules names one"
            )
        else:
            chosen.append((rs, platform))
    return chosen, notes


def own_blocks(result: AuditResult, rs: RangeSet) -> list[MissingBlock]:
    """What one declared source must let in: with --layered, its own gap; otherwise the
    missing set (the sources are one allowlist), in the families it speaks for."""
    from auditor import audit, ipspace
    from auditor.ipspace import IPSpace

    space = result.missing
    if result.options.layered:
        for layer in result.layers:
            if layer.name == rs.info.name:
                space = layer.missing
                break
    kept = IPSpace(*(space.family(f) if f in rs.families else ipspace.EMPTY for f in (4, 6)))
    return list(audit.blocks_with_origins(kept, result.expected))


def make(
    result: AuditResult,
    declared: Sequence[RangeSet],
    ask: RuleAsk,
    gens: Sequence[Generator],
    options: RuleOptions,
    banner: str,
) -> Made:
    """The rules of every platform asked for, as text for the report and, with --output-dir,
    as files to write (one directory per platform and declared source with ``auto``):
    :func:`write` writes them once the run is known to be complete."""
    from auditor.cli.loading import rule_blocks
    from auditor.rules import generator_for
    from auditor.rules import sanitize as clean

    made = Made()
    prune: tuple[MissingBlock, ...] = ()
    if ask.prune and result.complete:
        prune = tuple(result.extra_blocks or ())
    elif ask.prune:  # what an unread source holds looks extra: never removed on that word
        made.notes.append("no prune from an incomplete run; read every source, then prune")
    jobs: list[tuple[str, str, Generator, list[MissingBlock], RuleOptions]] = []
    blocks = rule_blocks(result.missing_blocks)
    base = replace(options, declared=tuple(declared), prune=prune)
    jobs += [(gen.name, gen.name, gen, blocks, base) for gen in gens]
    if any(name.lower() == AUTO for name in ask.platforms):
        chosen, made.notes = for_sources(declared)
        for rs, platform in chosen:
            gen = generator_for(platform)
            # a source's rules see the scopes that are its own objects, and prune only those
            owned = tuple(g for g in result.scope_groups if g in rs.groups)
            mine = replace(options, declared=(rs,), scope=owned, prune=prune if owned else ())
            gen.check(mine)
            title = f"{gen.name} ({clean.clean(rs.info.name)})"
            key = f"{gen.name}-{Path(rs.info.name).name}"
            jobs.append((title, key, gen, rule_blocks(own_blocks(result, rs)), mine))
    for title, key, gen, mine_blocks, mine in jobs:
        if ask.family is not None:
            mine_blocks = [b for b in mine_blocks if b.family == ask.family]
        arts: list[Artifact] = []
        if ask.output_dir is None:
            text = gen.generate(mine_blocks, mine)
        else:
            text, arts = gen.generate_with_artifacts(mine_blocks, mine, ask.family)
        made.rendered.append((title, banner + text))
        made.unfixed.append((title, gen.unfixed(mine_blocks, mine)))
        if ask.output_dir is not None:
            directory = ask.output_dir
            if len(jobs) > 1:  # a directory per platform (and declared source): no name shared
                directory = directory / _dir_name(key)
            if arts:
                made.pending.append((directory, gen, arts, mine.provenance))
    return made


def write(made: Made) -> None:
    """Write the files :func:`make` prepared (--output-dir), each artifact in its own."""
    from auditor.rules.artifacts import write_dir

    for directory, gen, arts, prov in made.pending:
        made.written += write_dir(directory, gen.name, arts, prov)


def _dir_name(title: str) -> str:
    from auditor.rules import sanitize

    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in sanitize.clean(title))
    return safe.strip("-.")[:80] or "rules"


def provenance(sources: Sequence[RangeSet], service: str) -> Provenance:
    from auditor import __version__
    from auditor.rules.artifacts import Provenance

    inputs = tuple((rs.info.name, rs.info.sha256) for rs in sources)
    inputs += tuple(c for rs in sources for c in rs.info.companions)
    return Provenance(__version__, inputs, service)
