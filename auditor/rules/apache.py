"""Apache httpd 2.4: ``Require ip`` lines (mod_authz_host) in a ``<RequireAny>`` block.

Where to put them: next to the ``Require ip`` lines that let addresses in today, in the same
container (``<Directory>``, ``<Location>``, or the ``<RequireAny>`` that holds them), so that
they are alternatives to those. Inside a ``<RequireAll>`` a new ``<RequireAny>`` would be one
more condition and let nobody new in; a ``Require not ip`` there still wins. A line holds at
most :attr:`ApacheGenerator.per_line` networks, in order. The rollback script removes the
marked lines again.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact, chunks
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.nginx import placement_lines

CHECK = "apache2ctl -t"
RELOAD = "apache2ctl graceful"


class ApacheGenerator(Generator):
    name = "apache"
    description = "Require ip lines in a <RequireAny> block for Apache 2.4; a rollback script"
    families = (4, 6)
    per_line = 32
    """Networks on one ``Require ip`` line, so that lines stay far below httpd's 8 KB limit
    on a configuration line."""

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
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
