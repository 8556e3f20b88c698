"""postconf(1) output: what ``postconf -x mynetworks`` (or ``postconf mynetworks``, or the
full ``postconf``) prints on the mail server.

Read like a main.cf, but its ``mynetworks`` is the value Postfix computed,
``mynetworks_style`` and the interfaces already applied, so a server whose main.cf does not
set mynetworks can be audited. Recognised by content under any file name (``.postconf``,
``.cf``, standard input): a file whose only lines are ``mynetworks =`` (and
``mynetworks_style =``), without comments or continuation lines, or one that has
``mail_version =`` (the full output always prints it; a main.cf never sets it). ``postconf
-n`` prints only what main.cf sets, so it reads as the main.cf it is.
"""

from __future__ import annotations

from auditor.allowlists.base import ReadContext
from auditor.allowlists.mail.postfix_main_cf import (
    _POSTCONF_ALONE,
    PostfixMainCfReader,
    _postconf_lines,
    sniff_main_cf,
)
from auditor.model import RangeSet

_MAIL_VERSION = b"mail_version = "
POSTCONF_SNIFF_BYTES = 256 * 1024


def sniff_postconf(data: bytes) -> bool:
    head = data[:POSTCONF_SNIFF_BYTES]
    # a plain find, not a multi-line regex: this runs on every file whose format is sniffed
    at_start = head.startswith(_MAIL_VERSION)
    if (at_start or b"\n" + _MAIL_VERSION in head) and sniff_main_cf(data):
        return True
    if len(data) > 8192:
        return False
    names = _postconf_lines(data.decode("utf-8", "replace"))
    return names is not None and "mynetworks" in names and set(names) <= _POSTCONF_ALONE


class PostconfReader(PostfixMainCfReader):
    name = "postconf"
    description = "postconf output (postconf -x mynetworks, or all of postconf): mynetworks"
    suffixes = (".postconf",)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_postconf(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return self.read(data, ctx, printed=True)
