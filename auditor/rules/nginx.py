"""nginx: ``allow CIDR;`` lines (ngx_http_access_module, ngx_stream_access_module) as a snippet
to include or paste ahead of the ``deny all;`` of the block that decides.

nginx checks ``allow`` and ``deny`` in the order written and the first match decides, so the
lines must come before the ``deny all;`` (and before any ``deny`` of a wider network). They
go in the same block as the existing ``allow`` lines: a block with ``allow``/``deny`` of its
own replaces what it would inherit. The rollback script removes the marked lines again.

``--prune`` with ``--scope FILE`` (the declared nginx file, by path or file name): a script
that removes the file's ``allow`` lines whose network holds no expected address
(:mod:`auditor.rules.web_prune`). Removing an ``allow`` never lets anyone new in: the
addresses it named go on to the next rule, and a block left without rules takes its
parent's, which at most let in what the block let in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from auditor.allowlists.base import ReaderError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet, web_prune
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions

if TYPE_CHECKING:
    from auditor.allowlists.web.nginx_conf import Directive

CHECK = "nginx -t"
RELOAD = "nginx -s reload"


def snippet_path(options: RuleOptions) -> str:
    return f"/etc/nginx/snippets/allowlist-auditor-{_slug(str(options.service))}.conf"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def placement_lines(options: RuleOptions, formats: Sequence[str], what: str) -> list[str]:
    """Where the existing allow lines of a declared source of ``formats`` are: file:line."""
    seen: dict[str, None] = {}
    for rs in options.declared:
        if rs.info.format in formats:
            for entry in rs.entries:
                if entry.origin.line is not None:
                    seen.setdefault(sanitize.clean(f"{entry.origin.source}:{entry.origin.line}"))
    if not seen:
        return []
    where = list(seen)[:8]
    more = f" and {len(seen) - len(where)} more" if len(seen) > len(where) else ""
    return [f"# The existing {what} lines are at {', '.join(where)}{more}: put these next to them."]


class NginxGenerator(Generator):
    name = "nginx"
    description = "allow lines for nginx (http or stream), to go before deny all; a rollback script"
    families = (4, 6)
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts = self._apply(blocks, options)
        if options.prune and options.scope:
            arts.append(self._prune(options))
        return arts

    def _prune(self, options: RuleOptions) -> Artifact:
        from auditor.allowlists.web.nginx_conf import parse_nginx, read_nginx

        rs, text = web_prune.declared_file(options, "nginx", self.name)
        lines, bom = web_prune.split_lines(text)
        try:
            nginx = read_nginx("\n".join(lines), web_prune.context(rs, options))
        except ReaderError as e:
            raise web_prune.unreadable(e) from None
        if nginx.dump:
            raise web_prune.refuse_dump(rs.info.name)
        extra = web_prune.extra_space(options)
        plan = web_prune.Plan()
        by_line: dict[int, list[Directive]] = {}
        for d, family, first, last in nginx.allowed():
            share = web_prune.share(extra, family, first, last)
            if share == "part":
                plan.kept.append(
                    f"kept: {sanitize.clean(d.args[0])} (line {d.line}) is only partly extra"
                )
            elif share == "all":
                by_line.setdefault(d.line, []).append(d)
        removed: set[int] = set()
        for line, found in sorted(by_line.items()):
            new = _without(lines[line - 1], [d.args[0] for d in found])
            if new is None:
                plan.kept += [
                    f"kept: {sanitize.clean(d.args[0])} (line {line}): the directive spans"
                    " lines; remove it by hand"
                    for d in found
                ]
                continue
            plan.edits[line] = new or None
            plan.removed += [f"line {line}: allow {sanitize.clean(d.args[0])}" for d in found]
            removed |= {id(d) for d in found}
        # the edited text read again: every directive but the removed ones is as it was
        try:
            after = _flat(parse_nginx(web_prune.joined(lines, plan.edits), rs.info.name))
        except ReaderError:
            after = None
        if after != _flat(nginx.trees[""], removed):
            kept = [f"kept: {r}: the file cannot be edited safely here" for r in plan.removed]
            plan = web_prune.Plan(kept=[*plan.kept, *kept])
        return web_prune.script(rs, plan, bom, CHECK, RELOAD, "allow lines")

    def _apply(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            return []
        path = snippet_path(options)
        advice = [
            "# nginx checks allow and deny in order and the first match decides: include this",
            "# (or paste it) before deny all; in the block that holds the allow lines today,",
            f"# e.g. include {path};",
            *placement_lines(options, ("nginx",), "allow"),
        ]
        lines = [f"allow {sanitize.cidr(b)};" for b in ordered]
        body = snippet.wrap(options.service, [*advice, *lines])
        apply = f"save as {path}, include it before deny all;, then {CHECK} && {RELOAD}"
        back = snippet.rollback_script(options.service, path, CHECK, RELOAD)
        target = "the file it was pasted into"
        return snippet.artifacts(body, "conf", apply, CHECK, back, len(ordered), target)


def _without(line: str, args: Sequence[str]) -> str | None:
    """``line`` without one ``allow ARG;`` for each of ``args`` (empty: the line goes, as
    nothing but blanks or a comment is left); None when one is not on it."""
    body = line.removesuffix("\r")
    cr = line[len(body) :]
    for arg in args:
        m = re.search(r"(?<![^\s;{}])allow\s+([\"']?)" + re.escape(arg) + r"\1\s*;[ \t]*", body)
        if m is None:
            return None
        body = body[: m.start()] + body[m.end() :]
    rest = body.strip()
    if not rest or rest.startswith("#"):
        return ""
    return body.rstrip() + cr


def _flat(
    tree: Sequence[Directive], skip: set[int] | None = None, depth: int = 0
) -> list[tuple[int, str, tuple[str, ...], bool]]:
    """Every directive of a tree in order, with its depth, but those whose id is in ``skip``."""
    out: list[tuple[int, str, tuple[str, ...], bool]] = []
    for d in tree:
        if skip and id(d) in skip:
            continue
        out.append((depth, d.name, tuple(d.args), d.children is not None))
        if d.children is not None:
            out += _flat(d.children, skip, depth + 1)
    return out
