"""``--prune`` for nginx and Apache: a script that edits the declared configuration file (the
scope: ``--scope`` names the file) to remove the addresses that hold no expected address.

- nginx: each ``allow ADDRESS;`` whose network is wholly extra is removed (a line left empty,
  or with only its comment, goes). Apache: each such address word of a ``Require ip`` line
  that can grant (no ``not``, not inside ``<RequireNone>``); a line left without any becomes
  ``Require all denied``, which is what a ``Require ip`` of no address would be (it grants
  nobody, and inside ``<RequireAll>`` it still denies). A ``deny``, a ``Require not ip`` and
  an entry that also holds expected addresses are never touched; the last are named in the
  script (``# kept: ...``).
- The edits are computed from the file as it was audited (read again, same SHA-256), and
  checked by reading the edited text again: every other directive is as it was. The script
  refuses to run on a file whose SHA-256 is another (it changed since), keeps the file as it
  was next to it as a hidden file (``.NAME.before-prune``: an ``include DIR/*`` does not load
  it), checks the configuration (``nginx -t``, ``apache2ctl -t``) and reloads, or puts the
  file back when the check fails.
- The script edits the declared path, or the file given as its first argument (a copy that
  was audited elsewhere has the same content, and so the same SHA-256).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.errors import UsageError
from auditor.model import RangeSet
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import RuleOptions, audited_bytes, source_path

_BOM = "\ufeff"


@dataclass
class Plan:
    """What the prune changes in one file: line number (1-based) to its new text (None: the
    line goes), what is removed and what is kept, for the script's comments."""

    edits: dict[int, str | None] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def declared_file(options: RuleOptions, fmt: str, platform: str) -> tuple[RangeSet, str]:
    """The declared file of ``fmt`` that the scope names (its path or its file name), and its
    text as it was audited."""
    scope = options.scope[0]
    for rs in options.declared:
        if rs.info.format != fmt:
            continue
        names = {rs.info.name, source_path(rs)}
        if scope not in names and not any(n.endswith("/" + scope) for n in names):
            continue
        data = audited_bytes(rs)
        if data is None:
            raise UsageError(
                f"{sanitize.clean(rs.info.name)} is not a file, or changed since it was read:"
                f" {platform} --prune edits it only as it was audited",
                hint="give the configuration file itself with --declared, and audit it again",
            )
        return rs, data.decode("utf-8", errors="replace")
    raise UsageError(
        f"{platform} --prune edits the declared {fmt} file that --scope names, and no such file"
        f" is named {scope!r}",
        hint=f"give the {fmt} configuration file with --declared and its path or file name as"
        " --scope",
    )


def context(rs: RangeSet, options: RuleOptions) -> ReadContext:
    return ReadContext(rs.info.name, "declared", service=options.service)


def extra_space(options: RuleOptions) -> ipspace.IPSpace:
    return ipspace.IPSpace.from_intervals(
        (b.family, b.network, b.network + b.size - 1) for b in options.prune
    )


def share(extra: ipspace.IPSpace, family: int, first: int, last: int) -> str:
    """``all``: the addresses are wholly extra; ``part``: some are; ``none``."""
    inside = extra.covered(family, first, last)
    return "all" if inside == last - first + 1 else "part" if inside else "none"


def split_lines(text: str) -> tuple[list[str], bool]:
    """The file's lines (without their ``\\n``) and whether it starts with a BOM (not part of
    the first line here)."""
    bom = text.startswith(_BOM)
    return text.removeprefix(_BOM).split("\n"), bom


def joined(lines: Sequence[str], edits: dict[int, str | None]) -> str:
    """The text with the edits made (what the script's awk writes, but the last newline)."""
    out = []
    for number, line in enumerate(lines, 1):
        if number in edits:
            new = edits[number]
            if new is not None:
                out.append(new)
        else:
            out.append(line)
    return "\n".join(out)


def printable(text: str) -> bool:
    """No control, separator or format character (a line or paragraph break, a bidi mark)."""
    return text.isprintable()


def script(rs: RangeSet, plan: Plan, bom: bool, check: str, reload: str, what: str) -> Artifact:
    """The prune script for ``plan`` (see the module's text)."""
    path = source_path(rs)
    sha = rs.info.sha256 or ""
    default = shlex.quote(path) if printable(path) and not path.startswith("-") else ""
    head = [
        "set -eu",
        f"# REMOVES from the file the {what} that hold no expected address: review first.",
        *(f"#   {line}" for line in plan.removed),
        *(f"# {line}" for line in plan.kept),
        "# The file: the declared one, or the first argument (a file with the same content).",
        f"file=${{1:-{default}}}" if default else 'file=${1:?"give the file to edit"}',
    ]
    if not plan.edits:
        body = [*head, "# Nothing in the file is wholly extra: nothing to remove.", "exit 0"]
        return _artifact(body, 0)
    body = [
        *head,
        f'sha=$(sha256sum <"$file") && [ "${{sha%% *}}" = {sha} ] || {{',
        '    echo "$file is not the file that was audited (another SHA-256): audit it again" >&2',
        "    exit 1",
        "}",
        # (no $(dirname) or $(basename): they would lose a newline at the end of a name)
        "case $file in */*) dir=${file%/*} ;; *) dir=. ;; esac",
        "base=${file##*/}",
        'new=$(mktemp "$dir/.$base.XXXXXX")',
        "trap 'rm -f -- \"$new\"' EXIT",
        'cp -p -- "$file" "$new"',
        "# The file as it was, to undo this by hand: DIR/.NAME.before-prune",
        'cp -p -- "$file" "$dir/.$base.before-prune"',
        *_awk(plan.edits, bom),
        'mv -f -- "$new" "$file"',
        f"if {check}; then",
        f"    {reload}",
        "else",
        '    cp -p -- "$dir/.$base.before-prune" "$file"',
        f'    echo "{check} refused the pruned file: it is back as it was" >&2',
        "    exit 1",
        "fi",
    ]
    return _artifact(body, len(plan.removed))


def _awk(edits: dict[int, str | None], bom: bool) -> list[str]:
    """The awk command that writes the file with the edits into ``$new``: a line that goes is
    skipped, a changed line printed from an environment variable (its text never becomes
    part of the program)."""
    gone = [n for n, text in sorted(edits.items()) if text is None]
    changed = {n: text for n, text in sorted(edits.items()) if text is not None}
    values = [
        f"L{n}={shlex.quote((_BOM if bom and n == 1 else '') + text)}"
        for n, text in changed.items()
    ]
    program = []
    if gone:
        program.append(" || ".join(f"NR == {n}" for n in gone) + " { next }")
    program += [f'NR == {n} {{ print ENVIRON["L{n}"]; next }}' for n in changed]
    program.append("{ print }")
    lines = [f"{v} \\" for v in values]
    lines.append(f'awk \'{" ".join(program)}\' "$file" >"$new"')
    return lines


def _artifact(body: list[str], count: int) -> Artifact:
    return Artifact(
        "prune",
        None,
        "\n".join(body) + "\n",
        "sh",
        "sh FILE [the configuration file, when it is not at the path that was audited]",
        "bash -n FILE",
        script=True,
        cidrs=count,
    )


def refuse_dump(name: str) -> UsageError:
    return UsageError(
        f"{sanitize.clean(name)} is an nginx -T dump: nginx --prune edits the file that holds"
        " the allow lines",
        hint="give that file itself with --declared, and its path or file name as --scope",
    )


def unreadable(error: ReaderError) -> UsageError:
    return UsageError(
        f"the declared file cannot be read again: {error.message}",
        hint="audit it again",
    )
