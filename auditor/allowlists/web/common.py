"""Web server access rules: nginx ``allow``/``deny`` and Apache ``Require`` (and the old
``Order``/``Allow``/``Deny``), evaluated for every source address.

A web server applies different rules to different URLs, so a file has several *contexts*
(an nginx ``location``, an Apache ``<Directory>``). Each context is lowered to the ruleset
intermediate form (:mod:`auditor.ruleset.ir`) and evaluated on its own by the ruleset engine;
an address gets a verdict only where every context agrees on it (allowed for every URL,
denied for every URL) and is conditional where they differ ("depends on the URL"), with
the contexts named. Nothing is taken from one context and applied to another.

This module holds what both readers share: the contexts, their evaluation and agreement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.model import (
    Entry,
    Finding,
    Origin,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
    SourceInfo,
    Verdicts,
)
from auditor.ruleset import engine
from auditor.ruleset.ir import Ruleset, RulesetError

FAMILIES = (4, 6)


@dataclass(frozen=True)
class Context:
    """One place where access rules apply (a location, a directory) and its verdicts."""

    label: str
    segments: dict[int, list[Segment]]
    """Per family, segments covering the whole address space."""


def evaluate(rs: Ruleset, source: str) -> list[Segment]:
    """Every address's verdict under a context's rules (the web rules do not depend on the
    port: the engine's default probe)."""
    try:
        return list(engine.evaluate(rs, None).segments)
    except RulesetError as e:
        line = e.ref.origin.line if e.ref is not None else None
        raise ReaderError(e.message, source=source, line=line, hint=e.hint) from None


def _depends_on_the_url(source: str) -> engine.Describe:
    def describe(said: Sequence[tuple[str, Segment]]) -> RuleRef:
        shown = [f"{label}: {s.outcome} ({s.rule.origin})" for label, s in said]
        why = "depends on the URL: " + "; ".join(shown[:3])
        if len(shown) > 3:
            why += f"; {len(shown) - 3} more"
        return RuleRef(Origin(source), "several contexts", why)

    return describe


def agree(contexts: Sequence[Context], family: int, source: str) -> list[Segment]:
    """One verdict per address where every context gives the same outcome (the first
    context's rule names it); conditional where they differ, naming the contexts."""
    named = [(c.label, c.segments[family]) for c in contexts]
    return engine.agree(named, "context", "", describe=_depends_on_the_url(source))


def _rangeset(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    contexts: Sequence[Context],
    findings: list[Finding],
    unsupported: list[str],
    objects: Callable[[], tuple[list[Entry], list[str]]] | None = None,
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    if len(contexts) > 1:
        findings.append(
            Finding(
                "contexts",
                Severity.INFO,
                f"{len(contexts)} contexts apply rules ("
                + ", ".join(c.label for c in contexts[:5])
                + (", ..." if len(contexts) > 5 else "")
                + "): an address counts as allowed only where all of them allow it",
                Origin(ctx.name),
            )
        )
    verdicts = [Verdicts(f, tuple(agree(contexts, f, ctx.name))) for f in FAMILIES]
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported, objects))
