"""``auditor history``: what changed in an audit, run by run (from ``auditor check
--state-dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli import params as p

if TYPE_CHECKING:
    from auditor.cli.outcome import Outcome


def command(
    ctx: typer.Context,
    audit: Annotated[str, typer.Argument(metavar="AUDIT", help="The audit's name.")],
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            envvar="AUDITOR_STATE_DIR",
            help="The --state-dir of auditor check (default: $AUDITOR_STATE_DIR, else"
            " /var/lib/allowlist-auditor, where the systemd example keeps it).",
        ),
    ] = Path("/var/lib/allowlist-auditor"),
    output: p.TextJsonOpt = "text",
    debug: p.DebugOpt = False,
) -> None:
    """\b
    Examples:
      auditor history servicenow-mail
      auditor history servicenow-mail --state-dir /var/lib/allowlist-auditor
      auditor history servicenow-mail --state-dir /var/lib/allowlist-auditor -o json
    """
    from auditor.cli.outcome import guard

    guard(lambda: _run(audit, state_dir, output), bool(ctx.meta.get(p.DEBUG)))


def _run(audit: str, state_dir: Path, output: str) -> Outcome:
    from auditor.check.state import Change, StateDir
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import clean, write
    from auditor.errors import UsageError

    if output not in ("text", "json"):
        raise UsageError(f"unknown output {output!r}", hint="choose text or json")
    if not state_dir.is_dir():
        raise UsageError(
            f"no state folder {state_dir}",
            hint="give the --state-dir that auditor check keeps (or set AUDITOR_STATE_DIR)",
        )
    folder = StateDir(state_dir)
    if "/" in audit or audit.startswith(".") or not folder.history_file(audit).is_file():
        known = sorted(
            f.name.removesuffix(".history.jsonl") for f in state_dir.glob("*.history.jsonl")
        )
        raise UsageError(
            f"no history of {audit!r} in {state_dir}",
            hint="audits with a history: " + (", ".join(known) or "none"),
        )
    runs = folder.history(audit)
    if output == "json":
        import json

        doc = {"schema_version": 1, "kind": "history", "audit": audit, "runs": runs}
        write(json.dumps(doc, indent=2, sort_keys=True) + "\n", None)
        return Outcome()
    lines = []
    for run in runs:
        head = f"{run['run_at']} exit {run.get('exit_code')}"
        if run.get("error"):
            lines.append(clean(f"{head}: not complete: {run['error']}; nothing compared"))
            continue
        found = [Change.from_json(c) for c in run.get("changes", ())]
        if run.get("since") is None:
            lines.append(f"{head}: first run")
        elif not found:
            lines.append(f"{head}: no change")
        else:
            lines.append(f"{head}: {len(found)} change(s) since {run['since']}")
        lines += [clean("  " + c.describe()) for c in found]
    write("".join(line + "\n" for line in lines), None)
    return Outcome()
