"""What the configuration-snippet platforms share (nginx, Apache, HAProxy): the lines go into
the admin's file between two marker comments, and the rollback is a script that removes the
marked lines again, wherever they were pasted. Also the check of ``--chain`` for the platforms
that have no chains (these, Postfix, Exchange)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.service import Service

_CHAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,30}")


def check_chain(platform: str, chain: str) -> None:
    """``--chain`` is not used by ``platform``, but a name no firewall could take is still
    refused (it is shared with the firewall platforms of the same run)."""
    if not _CHAIN.fullmatch(chain):
        raise UsageError(
            f"chain name {chain!r} cannot be used",
            hint=f"{platform} rules do not use --chain; leave it out, or give a chain name of"
            " at most 31 letters, digits, '_' and '-', starting with a letter",
        )


def markers(service: Service) -> tuple[str, str]:
    """The first and last line of a snippet: ``# allowlist-auditor tcp/25 begin``."""
    tag = f"{sanitize.TAG} {sanitize.clean(str(service))}"
    return f"# {tag} begin", f"# {tag} end"


def wrap(service: Service, lines: Sequence[str], indent: str = "") -> str:
    """``lines`` between the markers, each indented."""
    begin, end = markers(service)
    return "\n".join(indent + line for line in (begin, *lines, end)) + "\n"


def rollback_script(service: Service, default_file: str, check: str, reload: str) -> str:
    """A script that removes every marked block from FILE (its first argument), then checks
    the configuration and reloads: ``sh rollback.sh /etc/nginx/sites-enabled/mail``."""
    begin, end = markers(service)
    return "\n".join(
        [
            "set -eu",
            "# Removes the lines from the begin marker to the end marker (both included), in the",
            "# file given as the first argument, where the snippet was pasted or included.",
            f"file=${{1:-{shlex.quote(default_file)}}}",
            'new=$(mktemp "$file.XXXXXX")',
            "trap 'rm -f \"$new\"' EXIT",
            'cp -p -- "$file" "$new"',
            f"awk -v begin={shlex.quote(begin)} -v end={shlex.quote(end)} '"
            '{ line = $0; sub(/^[ \\t]+/, "", line); sub(/[ \\t\\r]+$/, "", line) }'
            " line == begin { skip = 1; next } skip && line == end { skip = 0; next }"
            ' !skip { print }\' "$file" >"$new"',
            'if ! cmp -s -- "$new" "$file"; then',
            '    mv -f -- "$new" "$file"',
            f"    {check} && {reload}",
            "fi",
        ]
    )


def artifacts(
    body: str, suffix: str, apply: str, check: str, back: str, cidrs: int, target: str
) -> list[Artifact]:
    """The snippet to paste (apply) and the script that takes its marked lines out of the
    file it was pasted into (rollback); ``target`` names that file in the rollback's usage."""
    return [
        Artifact("apply", None, body, suffix, apply, check, cidrs=cidrs),
        Artifact(
            "rollback",
            None,
            back,
            "sh",
            f"sh FILE [{target}]",
            "bash -n FILE",
            script=True,
            cidrs=cidrs,
        ),
    ]
