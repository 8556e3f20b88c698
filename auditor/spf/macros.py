"""Macro expansion of a domain-spec (RFC 7208 section 7.3), as far as it can be done
without a client: only ``%{d}``."""

from __future__ import annotations

import re

from auditor.spf.record import _MACRO, _RecordError


class _Unlistable(Exception):
    """The term depends on the client (a macro other than %{d}): it cannot be enumerated."""


def expand(spec: str, domain: str) -> str:
    """Expand a domain-spec whose only macro letter is d (section 7.3); _Unlistable otherwise."""

    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "%%":
            return "%"
        if whole == "%_":
            return " "
        if whole == "%-":
            return "%20"
        letter, digits, reverse, delimiters = m.groups()
        if letter.lower() != "d":
            raise _Unlistable(f"%{{{letter}}}")
        parts = re.split("[" + re.escape(delimiters or ".") + "]", domain)
        if reverse:
            parts.reverse()
        if digits:
            count = int(digits)
            if count == 0:
                raise _RecordError(f"%{{{letter}0}}: zero labels")
            parts = parts[-count:]
        return ".".join(parts)

    out = _MACRO.sub(one, spec)
    if len(out) > 253:  # keep the rightmost labels (section 7.3)
        labels = out.split(".")
        while len(".".join(labels)) > 253:
            labels.pop(0)
        out = ".".join(labels)
    return out.rstrip(".")
