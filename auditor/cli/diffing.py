"""What ``auditor diff`` does once its options are known: read both sides, compare, make the
rules and the report, and say what the run lacked. Free of Typer, so that the plainest diff
(:mod:`auditor.cli.quick`) runs without loading it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.cli.rulemaking import Made, RuleAsk
    from auditor.model import AuditResult, RangeSet
    from auditor.sources.load import SourceLoader

OVER_BROAD_V4 = 8
"""Declared IPv4 entries broader than this prefix length are findings (--over-broad-v4)."""
OVER_BROAD_V6 = 32
"""The same for IPv6 (--over-broad-v6)."""

_MAX_UNFIXED_SHOWN = 5


@dataclass
class Audited:
    """One comparison and its rules, before anything is reported."""

    result: AuditResult
    made: Made
    incomplete: str | None
    """Why the run is not complete (it exits 2), or None."""

    @property
    def outcome(self) -> Outcome:
        from auditor.cli.outcome import Outcome

        return Outcome(complete=self.incomplete is None, drift=not self.result.in_sync)


def run(
    opts: Options,
    rules: list[str],
    fail_on_extra: bool,
    over_broad_v4: int,
    over_broad_v6: int,
    layered: bool = False,
    ask: RuleAsk | None = None,
) -> Outcome:
    from auditor.cli import monitoring

    args = (opts, rules, fail_on_extra, over_broad_v4, over_broad_v6, layered, ask)
    if monitoring.wanted(opts):  # --output nagios, --prometheus: the run is an audit
        return monitoring.watch(opts, lambda keep: _run(*args, keep))
    return _run(*args)


def _run(
    opts: Options,
    rules: list[str],
    fail_on_extra: bool,
    over_broad_v4: int,
    over_broad_v6: int,
    layered: bool = False,
    ask: RuleAsk | None = None,
    keep: Callable[[AuditResult], None] | None = None,
) -> Outcome:
    from auditor import runmeta
    from auditor.cli.outcome import source_complete
    from auditor.cli.output import deliver, err
    from auditor.reports import ReportContext, report_for

    report = None if keep is not None and opts.output == "nagios" else report_for(opts.output)
    done = compare(
        opts, rules, fail_on_extra, over_broad_v4, over_broad_v6, layered, ask, keep=keep
    )
    result, made, incomplete = done.result, done.made, done.incomplete
    rendered, unfixed = made.rendered, made.unfixed
    if report is not None:  # else the check line, once the run's exit code is known
        ctx = ReportContext(rules=tuple(rendered), color=opts.color, meta=runmeta.finish())
        text = report.stream(result, ctx)  # made as it is written
        out = opts.output_file
        deliver(text, out, output=opts.output, quiet=opts.quiet, incomplete=incomplete)
    for fam in result.uncovered:
        err(f"error: no declared source covers IPv{fam}; its expected addresses are unknown")
    for rs in result.sources:
        # failed sources were reported as they were read; say what the others lacked
        source_complete(rs, opts.allow_stale)
    if not opts.quiet:
        for note in made.notes:
            err(f"info: {note}")
        for path in made.written:
            err(f"info: wrote {path}")
    for name, problems in unfixed:
        for problem in problems[:_MAX_UNFIXED_SHOWN]:
            err(f"error: {name} rules cannot let in {problem}")
        if len(problems) > _MAX_UNFIXED_SHOWN:
            err(f"error: {name} rules cannot let in {len(problems) - _MAX_UNFIXED_SHOWN} more")
    return done.outcome


def compare(
    opts: Options,
    rules: list[str],
    fail_on_extra: bool,
    over_broad_v4: int,
    over_broad_v6: int,
    layered: bool = False,
    ask: RuleAsk | None = None,
    loader: SourceLoader | None = None,
    check: Callable[[list[RangeSet]], list[RangeSet]] | None = None,
    keep: Callable[[AuditResult], None] | None = None,
) -> Audited:
    """Read both sides (with ``loader``, shared by the audits of a run, or one of the run's
    own), compare, make the rules (and write those of --output-dir when the run is
    complete); nothing is printed but the errors of the sources as they are read. ``check``
    may fail expected sources before they are compared (the guards of a scheduled run);
    ``keep`` is given the result as soon as it is made (a monitoring output's audit)."""
    from auditor import audit
    from auditor.cli.loading import load_both
    from auditor.cli.options import stdin_once
    from auditor.cli.outcome import not_complete
    from auditor.cli.output import err
    from auditor.errors import UsageError
    from auditor.model import AuditOptions
    from auditor.service import Service

    svc = Service.parse(opts.service)
    stdin_once([*opts.expected, *opts.declared])
    from auditor.cli import rulemaking

    ask = ask or rulemaking.RuleAsk(tuple(rules))
    generators = []
    if ask.platforms or ask.output_dir or ask.prune or ask.family:
        from auditor.rules import RuleOptions  # imported only when rules are asked for

        rule_options = RuleOptions(
            service=svc, chain=opts.chain, scope=opts.scope, to=opts.ruleset(svc)["to"]
        )
        generators = rulemaking.generators(ask, rule_options)
    for limit, bits in ((over_broad_v4, 32), (over_broad_v6, 128)):
        if not 0 <= limit <= bits:
            raise UsageError(f"over-broad prefix length {limit} is not in 0..{bits}")
    exp, dec = load_both(opts, svc, loader)
    if check is not None:
        exp = check(exp)
    options = AuditOptions(
        allow_stale=opts.allow_stale,
        over_broad_v4=over_broad_v4,
        over_broad_v6=over_broad_v6,
        scope=opts.scope,
        fail_on_extra=fail_on_extra,
        service=str(svc),
        layered=layered,
    )
    result = audit.compare(exp, dec, options)
    if keep is not None:
        keep(result)
    made = rulemaking.Made()
    everything = [f for f in result.over_broad if f.kind == "expected-everything"]
    for finding in everything:
        err(f"error: {finding.origin}: {finding.message}")
    if ask.platforms and not everything:
        banner = ""
        if not result.complete:
            from auditor.rules import sanitize

            why = [  # a file name may hold a newline: never a line of its own
                sanitize.clean(rs.info.name)
                for rs in result.sources
                if rs.completeness.value != "complete"
            ]
            why += [f"no declared source covers IPv{fam}" for fam in result.uncovered]
            names = ", ".join(why)
            banner = (
                f"# WARNING: made from incomplete inputs ({names}); the list of missing"
                " CIDRs may be wrong. Review before use.\n"
            )
        rule_options = replace(
            rule_options, provenance=rulemaking.provenance(result.sources, str(svc))
        )
        made = rulemaking.make(result, dec, ask, generators, rule_options, banner)
    unfixed = made.unfixed
    incomplete = None
    if not result.complete or everything:
        incomplete = not_complete(result.sources, opts.allow_stale, result.uncovered)
    not_fixed = sum(len(problems) for _, problems in unfixed)
    if not_fixed:
        # rules known not to take effect: the run did not produce what was asked
        incomplete = incomplete or f"the rules cannot let in {not_fixed} missing CIDR(s)"
    if incomplete is None and made.pending:
        rulemaking.write(made)
    elif made.pending:  # files say they are the whole change: none from an incomplete run
        err(f"error: not written: {ask.output_dir} (the run is incomplete; nothing in it changed)")
    return Audited(result, made, incomplete)
