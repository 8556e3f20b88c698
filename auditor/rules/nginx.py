"""nginx: ``allow CIDR;`` lines (ngx_http_access_module, ngx_stream_access_module) as a snippet
to include or paste ahead of the ``deny all;`` of the block that decides.

nginx checks ``allow`` and ``deny`` in the order written and the first match decides, so the
lines must come before the ``deny all;`` (and before any ``deny`` of a wider network). They
go in the same block as the existing ``allow`` lines: a block with ``allow``/``deny`` of its
own replaces what it would inherit. The rollback script removes the marked lines again.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions

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

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
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
