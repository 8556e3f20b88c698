"""Postfix: the missing CIDRs at the front of ``mynetworks`` (``postconf -e``), or as
``CIDR permit`` lines at the top of a cidr table (``check_client_access cidr:...``,
``postscreen_access_list``).

Choices an admin should know about (they are also written into the output):

- The target is the cidr table named by ``--scope`` (a table path, as main.cf names it), else
  the declared ``postfix-cidr`` table, else ``mynetworks``.
- Both are searched in order and the first match decides (``!pattern`` in a match list, a
  ``REJECT`` line in a table), so the new entries go first: in front of the current
  ``mynetworks`` value, at the top of the table.
- ``permit`` is the result: access(5) applies it as the ``permit`` restriction and
  postscreen(8) takes it as "allowlist the client", so one line works in both kinds of table.
- cidr tables are plain text the Postfix daemons read themselves: there is no ``postmap``
  step (cidr_table(5) names ``postmap -q`` only, to test a lookup); ``postfix reload`` makes
  the running daemons read the changed table or main.cf again.
- Each script checks before it adds (a CIDR already there is not added twice) and keeps the
  table's owner and mode; the prune script removes a table line only when its pattern is
  exactly an extra CIDR (a line that is wider is listed and kept).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions, source_path, stale

RESULT = "permit"
_PATH = re.compile(r"[A-Za-z0-9_.+/-]+")
_CHECK = "bash -n FILE"


def table_path(name: str) -> str:
    """The file of a cidr table named ``cidr:/etc/postfix/x.cidr`` or ``/etc/postfix/x.cidr``;
    a name with any other character is refused (it is written into a shell script)."""
    path = name[len("cidr:") :] if name.startswith("cidr:") else name
    if not _PATH.fullmatch(path) or path.startswith("-") or "/-" in path:
        raise UsageError(
            f"{name!r} cannot be used as a Postfix cidr table path",
            hint="name the table file with letters, digits and '_.+/-' (not starting with '-'),"
            " e.g. --scope /etc/postfix/client_access.cidr",
        )
    return path


def mynetworks_word(block: MissingBlock) -> str:
    """A CIDR as mynetworks writes it: IPv6 in brackets, ``[2001:db8::]/48``."""
    text = sanitize.cidr(block)
    if block.family == 6:
        net, plen = text.split("/")
        return f"[{net}]/{plen}"
    return text


class PostfixGenerator(Generator):
    name = "postfix"
    description = (
        "a shell script: the CIDRs in front of mynetworks (postconf -e), or permit lines at the"
        " top of a cidr table; postfix reload"
    )
    families = (4, 6)
    max_comment_len = 200
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)
        for scope in options.scope[:1]:
            table_path(scope)

    def table(self, options: RuleOptions) -> tuple[str, str] | None:
        """The cidr table the lines go to and why, or None for mynetworks."""
        if options.scope:
            return table_path(options.scope[0]), "the --scope table"
        for rs in options.declared:
            if rs.info.format == "postfix-cidr":
                return table_path(rs.info.name), "the declared table"
        return None

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        table = self.table(options)
        arts: list[Artifact] = []
        if ordered:
            if table is None:
                arts += self._mynetworks(ordered, options)
            else:
                arts += self._table(ordered, options, *table)
        if options.prune and options.scope:
            arts.append(self._prune(options))
        return arts

    def _tag(self, options: RuleOptions) -> str:
        return self.comment([str(options.service)])

    def _where(self, options: RuleOptions) -> list[str]:
        names = sorted({sanitize.clean(rs.info.name) for rs in options.declared})
        return [f"# declared: {n}" for n in names if n]

    def _mynetworks(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        words = [mynetworks_word(b) for b in blocks]
        quoted = " ".join(shlex.quote(w) for w in words)
        head = [
            "set -euf",
            "# The CIDRs go in front of mynetworks: the list is searched in order and a",
            "# !pattern before them would otherwise exclude them. By hand, the main.cf line is:",
            f"#   mynetworks = {' '.join(words)} <the current value>",
            "# postconf and postfix use MAIL_CONFIG as the configuration directory when set.",
            *self._where(options),
            "current=$(postconf -h mynetworks)",
        ]
        apply = [
            *head,
            "add=''",
            f"for cidr in {quoted}; do",
            "    found=no",
            "    for word in $(printf '%s\\n' \"$current\" | tr ',' ' '); do",
            '        [ "$word" = "$cidr" ] && found=yes',
            "    done",
            '    [ "$found" = yes ] || add="$add$cidr "',
            "done",
            'if [ -n "$add" ]; then',
            '    postconf -e "mynetworks = $add$current"',
            "    postfix reload",
            "fi",
        ]
        alternatives = "|".join(shlex.quote(w) for w in words)
        rollback = [
            *head,
            "# Removes exactly these CIDRs from mynetworks; the rest is kept, in order",
            "# (separated by spaces where it had commas).",
            "kept='' removed=no",
            "for word in $(printf '%s\\n' \"$current\" | tr ',' ' '); do",
            f"    case $word in {alternatives}) removed=yes ;;"
            ' *) kept="$kept${kept:+ }$word" ;; esac',
            "done",
            'if [ "$removed" = yes ]; then',
            '    postconf -e "mynetworks = $kept"',
            "    postfix reload",
            "fi",
        ]
        n = len(blocks)
        return [
            Artifact(
                "apply", None, "\n".join(apply), "sh", "sh FILE", _CHECK, script=True, cidrs=n
            ),
            Artifact(
                "rollback", None, "\n".join(rollback), "sh", "sh FILE", _CHECK, script=True, cidrs=n
            ),
        ]

    def _table(
        self, blocks: Sequence[MissingBlock], options: RuleOptions, path: str, why: str
    ) -> list[Artifact]:
        tag = self._tag(options)
        lines = [f"{sanitize.cidr(b)} {RESULT}" for b in blocks]
        quoted = " ".join(shlex.quote(line) for line in lines)
        head = [
            "set -eu",
            f"# The table is {why}. A cidr table is searched in order and the first match",
            "# decides, so the lines go to its top, ahead of any line that rejects them.",
            "# No postmap step: Postfix reads cidr tables as text; postfix reload makes the",
            "# running daemons read it again. Test a lookup: postmap -q ADDRESS cidr:TABLE",
            *self._where(options),
            f"table={shlex.quote(path)}",
            'new=$(mktemp "$table.XXXXXX")',
            "trap 'rm -f \"$new\"' EXIT",
            'cp -p -- "$table" "$new"',
        ]
        apply = [
            *head,
            "add=''",
            f"for line in {quoted}; do",
            '    grep -qxF -- "$line" "$table" || add="$add$line',
            '"',
            "done",
            'if [ -n "$add" ]; then',
            f"    {{ printf '%s\\n' {shlex.quote('# ' + tag)}; printf '%s' \"$add\";"
            ' cat -- "$table"; } >"$new"',
            '    mv -f -- "$new" "$table"',
            "    postfix reload",
            "fi",
        ]
        drop = " ".join(f"-e {shlex.quote(x)}" for x in ("# " + tag, *lines))
        rollback = [
            *head,
            "# Removes exactly the lines the apply script added (and its comment line).",
            f'grep -vxF {drop} -- "$table" >"$new" || [ "$?" -eq 1 ]',
            'if ! cmp -s -- "$new" "$table"; then',
            '    mv -f -- "$new" "$table"',
            "    postfix reload",
            "fi",
        ]
        n = len(blocks)
        return [
            Artifact(
                "apply", None, "\n".join(apply), "sh", "sh FILE", _CHECK, script=True, cidrs=n
            ),
            Artifact(
                "rollback", None, "\n".join(rollback), "sh", "sh FILE", _CHECK, script=True, cidrs=n
            ),
        ]

    def _prune(self, options: RuleOptions) -> Artifact:
        path = table_path(options.scope[0])
        found = stale(options)
        extra = found.blocks
        keys = " ".join(sanitize.cidr(b).lower() for b in extra)
        audited = next(
            (
                rs.info.sha256
                for rs in options.declared
                if rs.info.format == "postfix-cidr" and source_path(rs) == path
            ),
            None,
        )
        body = [
            "set -eu",
            "# Removes the lines of the table whose pattern is exactly one of these entries, all",
            "# of whose addresses are extra (an address alone counts as /32 or /128, brackets are",
            "# ignored), with the lines that continue them; comments, if/endif and every other",
            "# line are kept.",
            *(f"#   {sanitize.cidr(b)}" for b in extra),
            *(f"# {note}" for note in found.kept),
            f"table={shlex.quote(path)}",
            *(
                [
                    f'sha=$(sha256sum <"$table") && [ "${{sha%% *}}" = {audited} ] || {{',
                    '    echo "$table is not the table that was audited (another SHA-256):'
                    ' audit it again" >&2',
                    "    exit 1",
                    "}",
                ]
                if audited
                else ["# (the table was not read in this audit: its content is not checked)"]
            ),
            'new=$(mktemp "$table.XXXXXX")',
            "trap 'rm -f \"$new\"' EXIT",
            'cp -p -- "$table" "$new"',
            "# The table as it was stays next to it, to undo this: TABLE.before-prune",
            'cp -p -- "$table" "$table.before-prune"',
            f"awk -v drop={shlex.quote(' ' + keys + ' ')} '"
            "/^[ \\t]/ && NF { if (!skip) print; next }"
            ' { skip = 0; key = tolower($1); gsub(/[][]/, "", key)'
            ' ; if (key !~ /\\//) key = key (index(key, ":") ? "/128" : "/32")'
            ' ; if ($1 !~ /^#/ && NF > 1 && index(drop, " " key " ")) { skip = 1; next }'
            ' ; print }\' "$table" >"$new"',
            'if ! cmp -s -- "$new" "$table"; then',
            '    mv -f -- "$new" "$table"',
            "    postfix reload",
            "fi",
        ]
        return Artifact(
            "prune", None, "\n".join(body), "sh", "sh FILE", _CHECK, script=True, cidrs=len(extra)
        )
