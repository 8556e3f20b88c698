"""HAProxy: an ``acl NAME src CIDR ...`` and ``tcp-request connection accept if NAME`` for the
frontend (or listen section) that takes the connections.

``tcp-request connection`` rules are evaluated in the order written and the first accept or
reject ends them, so the lines go before the first ``tcp-request connection reject`` of the
section. Lines with the same acl name are alternatives (OR), so a long list is split over
several ``acl`` lines of at most :attr:`HaproxyGenerator.per_line` networks (HAProxy reads at
most 64 words on a line). The acl name is ``--scope`` when given, else
``auditor_allow_<service>``. The rollback script removes the marked lines again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact, chunks
from auditor.rules.base import Generator, RuleOptions

CHECK = "haproxy -c -f /etc/haproxy/haproxy.cfg"
RELOAD = "systemctl reload haproxy"
# HAProxy's acl names: upper and lower case letters, digits, '-', '_', '.' and ':'
# [HAProxy configuration manual, 7.1 "Using ACLs to form conditions"].
_ACL = re.compile(r"[A-Za-z0-9_.:-]+")


class HaproxyGenerator(Generator):
    name = "haproxy"
    description = "an acl ... src list and tcp-request connection accept for a HAProxy frontend"
    families = (4, 6)
    max_name_len = 64
    per_line = 60

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)
        for scope in options.scope[:1]:
            if not _ACL.fullmatch(scope):
                raise UsageError(
                    f"{scope!r} cannot name a HAProxy acl",
                    hint="use letters, digits, '-', '_', '.' and ':'",
                )
            self.check_name("acl", scope)

    def acl_name(self, options: RuleOptions) -> str:
        if options.scope:
            return options.scope[0]
        service = options.service
        if service.protocol == "any":
            return "auditor_allow_any"
        ports = "_".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports)
        return f"auditor_allow_{service.protocol}_{ports}"[: self.max_name_len].rstrip("_")

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            return []
        acl = self.acl_name(options)
        advice = [
            "# Paste into the frontend (or listen) section that takes these connections, before",
            "# its first tcp-request connection reject: the first accept or reject decides.",
            "# Keep the marker lines: the rollback finds them.",
        ]
        cidrs = [sanitize.cidr(b) for b in ordered]
        lines = [f"acl {acl} src " + " ".join(run) for run in chunks(cidrs, self.per_line)]
        lines.append(f"tcp-request connection accept if {acl}")
        body = snippet.wrap(options.service, [*advice, *lines], "    ")
        back = snippet.rollback_script(
            options.service,
            "/etc/haproxy/haproxy.cfg",
            CHECK.replace(" /etc/haproxy/haproxy.cfg", ' "$file"'),
            RELOAD,
        )
        n = len(ordered)
        apply = f"paste where it says, {CHECK}, {RELOAD}"
        return snippet.artifacts(body, "cfg", apply, CHECK, back, n, "haproxy.cfg")
