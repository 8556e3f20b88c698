"""Strict JSON, the one parse every JSON input goes through (allowlists, feeds, exports).

Python's json keeps the last of two equal keys (``{"prefixes":[...],"prefixes":[]}`` would
read as empty), accepts ``NaN``/``Infinity`` and turns ``1e999`` into infinity: all three are
refused here (RELIABILITY 3, JSON). Callers wrap :class:`StrictJsonError` into their own
error type, naming the file or the provider. A saved JSON report is read back here too
(:func:`read_missing`), below both the report that writes it and the reader that reads it.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeGuard

from auditor.errors import InputError


class StrictJsonError(ValueError):
    """Why a text is not strict JSON; ``line`` when the parser knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJsonError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError(f"{text} is out of range")
    return value


_MAX_DIGITS = 4300
"""Python's limit on the digits of an integer read from text (sys.get_int_max_str_digits)."""


class LongNumber:
    """An integer with more digits than Python reads, kept for the caller to name its path."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"

    __str__ = __repr__


def loads_strict(text: str, long_numbers: bool = False) -> Any:
    """The document; StrictJsonError for invalid JSON, duplicate keys, NaN, Infinity,
    out-of-range numbers and nesting too deep to be data. An integer too long to read is an
    error naming its line, or with ``long_numbers`` a :class:`LongNumber` in its place."""

    def integer(digits: str) -> int | LongNumber:
        if len(digits.lstrip("-")) <= _MAX_DIGITS:
            return int(digits)
        if long_numbers:
            return LongNumber(len(digits.lstrip("-")))
        line = text.count("\n", 0, max(text.find(digits), 0)) + 1
        raise StrictJsonError(f"a number of {len(digits.lstrip('-'))} digits is out of range", line)

    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=integer,
        )
    except StrictJsonError:
        raise
    except json.JSONDecodeError as e:
        raise StrictJsonError(f"not valid JSON: {e.msg}", e.lineno) from None
    except RecursionError:
        raise StrictJsonError("the JSON is nested too deeply to be data") from None


REPORT_SCHEMA_VERSION = 1
"""The ``schema_version`` of ``auditor diff --output json`` reports: the json report writes it,
:func:`read_missing` reads it back."""


class ReportFormatError(InputError):
    """A document is not a JSON report of a version this program reads."""


def is_report(doc: object) -> TypeGuard[dict[str, Any]]:
    """Whether a parsed JSON document looks like a report (rather than a list of CIDRs)."""
    return isinstance(doc, dict) and "schema_version" in doc


def read_missing(doc: object, source: str = "<report>") -> list[str]:
    """The missing CIDRs of a parsed JSON report, in report order.

    For ``auditor rules`` reading a saved report; the caller parses the CIDRs again, so a
    hand-edited report cannot smuggle anything but networks into generated rules.
    """
    if not is_report(doc):
        raise ReportFormatError(
            "not an auditor JSON report (no schema_version)",
            source=source,
            hint="give the output of `auditor diff --output json`",
        )
    version = doc["schema_version"]
    if type(version) is not int or version != REPORT_SCHEMA_VERSION:
        raise ReportFormatError(
            f"report schema_version {version!r} is not supported (this program reads "
            f"{REPORT_SCHEMA_VERSION})",
            source=source,
            hint="regenerate the report with this version of auditor",
        )
    missing = doc.get("missing")
    if not isinstance(missing, list):
        raise ReportFormatError("report has no 'missing' list", source=source)
    out = []
    for i, item in enumerate(missing):
        cidr = item.get("cidr") if isinstance(item, dict) else None
        if not isinstance(cidr, str):
            raise ReportFormatError(f"missing[{i}] has no 'cidr' string", source=source)
        out.append(cidr)
    return out


def missing_origins(doc: object) -> list[tuple[str, int | None, str | None] | None]:
    """The first origin of each missing CIDR of a report :func:`read_missing` accepted, as
    ``(source, line, path)``; None where a hand-edited report has none that is well formed."""
    out: list[tuple[str, int | None, str | None] | None] = []
    missing = doc.get("missing") if isinstance(doc, dict) else None
    for item in missing if isinstance(missing, list) else []:
        origins = item.get("origins") if isinstance(item, dict) else None
        first = origins[0] if isinstance(origins, list) and origins else None
        if not isinstance(first, dict) or not isinstance(first.get("source"), str):
            out.append(None)
            continue
        line, path = first.get("line"), first.get("path")
        out.append(
            (
                first["source"],
                line if type(line) is int and line > 0 else None,
                path if isinstance(path, str) else None,
            )
        )
    return out
