"""Loading the sources of a run, each failure said on stderr as it happens."""

from __future__ import annotations

import contextlib
import os
import stat
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from auditor.cli.output import err
from auditor.errors import AuditorError, UsageError

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.model import MissingBlock, RangeSet
    from auditor.service import Service
    from auditor.sources.load import LoadOptions, SourceLoader


def load_all(
    specs: Sequence[str],
    loader: SourceLoader,
    options: LoadOptions,
    run: Options,
    say: Callable[[str], None] = err,
) -> list[RangeSet]:
    """Load every source; one that fails is kept as a failed set so the others still count.
    ``say`` writes each message (stderr, or a list kept for later)."""
    from auditor.model import Completeness, Entries, RangeSet, SourceInfo

    quiet = run.quiet
    out: list[RangeSet] = []
    later: list[tuple[int, str]] = []
    for spec in specs:
        name = "<stdin>" if spec == "-" else spec
        try:
            rs = loader.load(spec, options)
        except UsageError:
            raise  # a wrong option or filter stops the run: nothing useful can follow
        except AuditorError as e:
            if run.debug:
                traceback.print_exc()
            say(f"error: {e}")
            rs = RangeSet(
                SourceInfo(name, options.role, options.fmt or "unknown"),
                Entries(name),
                Completeness.FAILED,
                (str(e),),
            )
        else:
            for finding in rs.findings:
                if quiet and finding.severity.value == "info":
                    continue  # --quiet: warnings and errors only (the report still has them)
                where = f"{finding.origin}: " if finding.origin else ""
                line = f"{finding.severity.value}: {where}{finding.message}"
                if finding.kind == "family-not-covered":
                    later.append((len(out), line))  # unless another source covers it
                else:
                    say(line)
            if rs.info.cache in ("cached", "stale") and rs.info.retrieved_at and not quiet:
                say(f"info: {rs.info.name}: from the cache, retrieved {rs.info.retrieved_at}")
        out.append(rs)
    for i, line in later:
        if not _covered_elsewhere(out, i):
            say(line)
    return [
        replace(rs, findings=tuple(f for f in rs.findings if f.kind != "family-not-covered"))
        if _covered_elsewhere(out, i)
        else rs
        for i, rs in enumerate(out)
    ]


def load_declared(
    specs: Sequence[str], loader: SourceLoader, options: LoadOptions, run: Options
) -> list[RangeSet]:
    """The declared sources, with the companion files they need (ipset saves and the like)."""
    sets, declared_specs, used = loader.companions(specs, options)
    return with_companions(load_all(declared_specs, loader, replace(options, sets=sets), run), used)


def with_companions(sources: list[RangeSet], used: Sequence[tuple[str, str]]) -> list[RangeSet]:
    """The sources, each reader that takes companion files naming those read (an ipset save
    is an input of the iptables export it resolves)."""
    if not used:
        return sources
    from auditor.allowlists.base import READERS

    out = []
    for rs in sources:
        fmt = rs.info.format
        if fmt in READERS and READERS[fmt].companions_needed():
            rs = replace(rs, info=replace(rs.info, companions=tuple(used)))
        out.append(rs)
    return out


def load_both(
    run: Options, service: Service, shared: SourceLoader | None = None
) -> tuple[list[RangeSet], list[RangeSet]]:
    """The expected and the declared sources of a run, read with one loader (``shared``, which
    the caller closes, or one of the run's own); declared rulesets are evaluated for
    ``service``. When both sides are big local files, the declared side is read on a second
    core while the expected side is read; the messages still come out in the order of a run
    that reads one after the other."""
    common = run.reading()
    ruleset = run.ruleset(service)
    with contextlib.nullcontext(shared) if shared is not None else run.open() as loader:
        exp_options = run.load_options("expected", **common)
        dec_options = run.load_options("declared", **common, **ruleset)
        if not _two_cores_pay(run):
            exp = load_all(run.expected, loader, exp_options, run)
            return exp, load_declared(run.declared, loader, dec_options, run)
        from concurrent.futures import ThreadPoolExecutor

        sets, specs, used = loader.companions(run.declared, dec_options)
        said: list[str] = []
        with ThreadPoolExecutor(1, thread_name_prefix="auditor-load") as pool:
            later = pool.submit(
                load_all, specs, loader, replace(dec_options, sets=sets), run, said.append
            )
            exp = load_all(run.expected, loader, exp_options, run)
            try:
                dec = later.result()
            finally:
                for line in said:
                    err(line)
    return exp, with_companions(dec, used)


# From this much data on local files, reading the two sides at once pays for the thread.
_TWO_CORES_BYTES = 1 << 20


def _two_cores_pay(run: Options) -> bool:
    """Whether to read the declared side on a second core: every source a big enough local
    regular file (nothing from a network, a pipe or a cache), and no --debug (its tracebacks
    are printed as they happen)."""
    if run.debug or (os.cpu_count() or 1) < 2:
        return False
    total = 0
    for spec in (*run.expected, *run.declared):
        try:
            st = os.stat(spec)
        except (OSError, ValueError):
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        total += st.st_size
    return total >= _TWO_CORES_BYTES


def _covered_elsewhere(sets: Sequence[RangeSet], i: int) -> bool:
    """The families source ``i`` does not speak for are all spoken for by another source (an
    iptables export given with its ip6tables twin): its "IPv6 needs its own" is moot."""
    from auditor.model import Completeness

    others = {
        f
        for j, rs in enumerate(sets)
        if j != i and rs.completeness is not Completeness.FAILED
        for f in rs.families
    }
    return {4, 6} - set(sets[i].families) <= others


def rule_blocks(blocks: Iterable[MissingBlock]) -> list[MissingBlock]:
    """Blocks for rules; a whole address family is refused (RELIABILITY 2.11)."""
    from auditor.errors import InputError

    out = list(blocks)
    for block in out:
        if block.prefixlen == 0:
            where = ", ".join(str(o) for o in block.origins[:3]) or "the input"
            raise InputError(
                f"refusing to write a rule that allows {block.cidr} (from {where})",
                hint="a source that lists every address is broken; check it",
            )
    return out
