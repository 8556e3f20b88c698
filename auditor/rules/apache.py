"""Apache httpd 2.4: ``Require ip`` lines (mod_authz_host) in a ``<RequireAny>`` block.

Where to put them: next to the ``Require ip`` lines that let addresses in today, in the same
container (``<Directory>``, ``<Location>``, or the ``<RequireAny>`` that holds them), so that
they are alternatives to those. Inside a ``<RequireAll>`` a new ``<RequireAny>`` would be one
more condition and let nobody new in; a ``Require not ip`` there still wins. A line holds at
most :attr:`ApacheGenerator.per_line` networks, in order. The rollback script removes the
marked lines again.

``--prune`` with ``--scope FILE`` (the declared Apache file, by path or file name): a script
that removes from the file's granting ``Require ip`` lines the addresses that hold no
expected address (:mod:`auditor.rules.web_prune`); a line left with none becomes
``Require all denied``, the same result as a ``Require ip`` of no address.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from auditor.allowlists.base import ReaderError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet, web_prune
from auditor.rules.artifacts import Artifact, chunks
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.nginx import placement_lines

if TYPE_CHECKING:
    from auditor.allowlists.web.apache_lower import AuthzNode

CHECK = "apache2ctl -t"
RELOAD = "apache2ctl graceful"


class ApacheGenerator(Generator):
    name = "apache"
    description = "Require ip lines in a <RequireAny> block for Apache 2.4; a rollback script"
    families = (4, 6)
    per_line = 32
    """Networks on one ``Require ip`` line, so that lines stay far below httpd's 8 KB limit
    on a configuration line."""

    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts = self._apply(blocks, options)
        if options.prune and options.scope:
            arts.append(self._prune(options))
        return arts

    def _prune(self, options: RuleOptions) -> Artifact:
        from auditor.allowlists.web.apache_conf import _Apache, _apache_lines, _apache_words

        rs, text = web_prune.declared_file(options, "apache", self.name)
        lines, bom = web_prune.split_lines(text)
        apache = _Apache(web_prune.context(rs, options))
        try:
            apache.parse("\n".join(lines))
        except ReaderError as e:
            raise web_prune.unreadable(e) from None
        extra = web_prune.extra_space(options)
        plan = web_prune.Plan()
        gone: dict[int, tuple[AuthzNode, set[int]]] = {}  # per line: the directive, words
        for node, k, family, first, last in apache.granted():
            share = web_prune.share(extra, family, first, last)
            if share == "part":
                word = sanitize.clean(node.args[k])
                plan.kept.append(f"kept: {word} (line {node.line}) is only partly extra")
            elif share == "all":
                gone.setdefault(node.line, (node, set()))[1].add(k)
        expected = {}
        for line, (node, drop) in sorted(gone.items()):
            new = _without(lines[line - 1], node.args, drop)
            words = [node.args[k] for k in sorted(drop)]
            if new is None:
                plan.kept += [
                    f"kept: {sanitize.clean(w)} (line {line}): the line cannot be edited here;"
                    " remove it by hand"
                    for w in words
                ]
                continue
            plan.edits[line] = new
            plan.removed += [f"line {line}: Require ip {sanitize.clean(w)}" for w in words]
            expected[line] = _apache_words(new.strip())
        # the edited text read again: every other line is as it was
        old = {n: _apache_words(t) for n, t in _apache_lines("\n".join(lines))}
        new_lines = {
            n: _apache_words(t) for n, t in _apache_lines(web_prune.joined(lines, plan.edits))
        }
        if new_lines != {**old, **expected}:
            kept = [f"kept: {r}: the file cannot be edited safely here" for r in plan.removed]
            plan = web_prune.Plan(kept=[*plan.kept, *kept])
        return web_prune.script(rs, plan, bom, CHECK, RELOAD, "Require ip addresses")

    def _apply(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            return []
        slug = "".join(c if c.isalnum() else "-" for c in str(options.service))
        path = f"/etc/apache2/conf-available/allowlist-auditor-{slug}.conf"
        advice = [
            "# Paste the Require ip lines next to the Require ip lines that let addresses in",
            "# today, in the same container; where there are none, paste the whole block into",
            "# the <Directory> or <Location> (inside a <RequireAll> it would be one more",
            "# condition and let nobody new in). Keep the marker lines: the rollback finds them.",
            *placement_lines(options, ("apache",), "Require ip"),
        ]
        cidrs = [sanitize.cidr(b) for b in ordered]
        lines = ["<RequireAny>"]
        lines += ["    Require ip " + " ".join(run) for run in chunks(cidrs, self.per_line)]
        lines.append("</RequireAny>")
        body = snippet.wrap(options.service, [*advice, *lines])
        apply = f"paste where the comments say, then {CHECK} && {RELOAD}"
        back = snippet.rollback_script(options.service, path, CHECK, RELOAD)
        target = "the file it was pasted into"
        return snippet.artifacts(body, "conf", apply, CHECK, back, len(ordered), target)


_WORD = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\S+")


def _without(line: str, args: Sequence[str], drop: set[int]) -> str | None:
    """``line`` (``Require ip`` and ``args``, nothing else: Apache has no comment after a
    directive) without the words at ``drop``; ``Require all denied`` when none is left; None
    when the line is not that (a directive continued on the next line)."""
    body = line.removesuffix("\r")
    cr = line[len(body) :]
    if body.rstrip().endswith("\\"):
        return None
    words = list(_WORD.finditer(body))
    texts = [w.group(0) for w in words]
    unquoted = [t[1:-1] if len(t) > 1 and t[0] == t[-1] and t[0] in "\"'" else t for t in texts]
    if len(words) < 3 or [t.lower() for t in unquoted[:2]] != ["require", "ip"]:
        return None
    if unquoted[2:] != list(args):
        return None
    if len(drop) == len(args):
        indent = body[: words[0].start()]
        return f"{indent}Require all denied{cr}"
    out = body[: words[1].end()]
    for k, w in enumerate(words[2:]):
        if k not in drop:  # with the blanks that were in front of it
            out += body[words[k + 1].end() : w.end()]
    return out.rstrip() + cr
