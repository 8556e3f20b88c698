"""GitHub's meta API (``https://api.github.com/meta``): one top-level key per service
(``hooks``, ``web``, ``api``, ``git``, ``packages``, ``pages``, ``actions``, ...) mapping to a
list of addresses and CIDRs, next to keys that are not addresses at all
(``verifiable_password_authentication``, ``ssh_key_fingerprints``, ``ssh_keys``, ``domains``).

Which keys are sections: GitHub adds services over time, so sections are found by content
rather than listed. A top-level value is a section when it is a list and at least one of its
items is a string that looks like an address: only hex digits, ``.``, ``:`` and ``/``, with a
digit and a ``.`` or ``:``. Every item of a section is then recorded, so one malformed
entry among addresses becomes a finding in the selection instead of vanishing with its
section; a non-string item in a section is an error. The known non-address keys above are
never sections; any other list with no address-like item (a new list of key types, say) is
skipped and named in an info finding. Non-list values and empty lists are skipped.

The document has no version. Filter by ``section``, the key's name.

See https://docs.github.com/rest/meta/meta#get-github-meta-information
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext
from auditor.sources.feeds._common import ObjectFeedParser, add_strings, info, key_path

NOT_ADDRESSES = frozenset(
    {"verifiable_password_authentication", "ssh_key_fingerprints", "ssh_keys", "domains"}
)
_ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:/")
_DIGITS = frozenset("0123456789")


def looks_like_address(item: Any) -> bool:
    """An address or CIDR by its characters alone (parsing happens later, in the selection)."""
    if not isinstance(item, str) or not item:
        return False
    chars = set(item)
    return chars <= _ADDRESS_CHARS and bool(chars & _DIGITS) and bool(chars & {".", ":"})


class GithubParser(ObjectFeedParser):
    name = "github"
    description = "GitHub meta API JSON (api.github.com/meta)"
    filters = ("section",)

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> None:
        skipped = []
        for key, value in doc.items():
            if key in NOT_ADDRESSES or not isinstance(value, list) or not value:
                continue
            if not any(looks_like_address(item) for item in value):
                skipped.append(key)
                continue
            add_strings(out, value, ctx, key_path("", key), out.tags([("section", key)]))
        if skipped:
            info(
                out,
                "ignored-key",
                f"{len(skipped)} list(s) without addresses not read: "
                + ", ".join(key_path("", k) for k in skipped),
                ctx,
            )
