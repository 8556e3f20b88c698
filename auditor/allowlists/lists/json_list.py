"""JSON allowlists: a list of strings, or an object of groups (scopes) mapping to lists.

Duplicate keys are rejected (``json`` keeps the last one silently) and so are ``NaN`` and
``Infinity``, which the standard library accepts by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from auditor import ipspace
from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    decode_text,
)
from auditor.errors import AddressError
from auditor.jsonutil import StrictJsonError, loads_strict, missing_origins, read_missing
from auditor.model import Completeness, Origin, RangeSet, Severity


def load_strict(text: str, source: str, long_numbers: bool = False) -> Any:
    """Strict JSON (duplicate keys, NaN, Infinity refused) with the file and line in errors."""
    try:
        return loads_strict(text, long_numbers)
    except StrictJsonError as e:
        hint = None
        if e.message.startswith("duplicate key"):
            hint = "JSON parsers keep only one of the values; merge them"
        raise ReaderError(
            f"invalid JSON: {e.message}", source=source, line=e.line, hint=hint
        ) from None


class JsonReader(Reader):
    name = "json"
    description = "a JSON list of strings, or an object of groups mapping to lists"
    suffixes = (".json",)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        doc = load_strict(decode_text(data, ctx), ctx.name)
        out = Collector(ctx, self.name)
        if isinstance(doc, dict) and "schema_version" in doc:
            # A saved `auditor diff --output json` report: its missing CIDRs, parsed again.
            cidrs = read_missing(doc, ctx.name)
            self._walk(list(cidrs), out, "$.missing", None, missing_origins(doc))
            rs = out.result(data, explicit_empty=True, detail="missing CIDRs of a report")
            incomplete = [
                str(i.get("name"))
                for i in doc.get("inputs") or []
                if isinstance(i, dict) and i.get("completeness") != "complete"
            ]
            verdict = doc.get("verdict")
            status = verdict.get("status") if isinstance(verdict, dict) else None
            if incomplete or status == "incomplete":
                # a report made from incomplete inputs gives an incomplete list of CIDRs
                why = "the report was made from incomplete inputs: " + ", ".join(incomplete)
                if not incomplete:  # complete inputs, e.g. a family no declared source covers
                    reasons = verdict.get("reasons") if isinstance(verdict, dict) else None
                    said = "; ".join(str(r) for r in reasons or []) or "its verdict says so"
                    why = "the report's run was incomplete: " + said
                rs = replace(rs, completeness=Completeness.PARTIAL, reasons=(*rs.reasons, why))
            return rs
        if isinstance(doc, list):
            self._walk(doc, out, "$", None)
        elif isinstance(doc, dict):
            for key, value in doc.items():
                if not isinstance(value, list):
                    raise ReaderError(
                        f"group {key!r} must be a list of strings",
                        source=ctx.name,
                        hint="write [] for a group that allows nothing",
                    )
                out.group(key)
                self._walk(value, out, f"$.{key}", key)
        else:
            raise ReaderError(
                "the JSON document must be a list of strings or an object of lists",
                source=ctx.name,
            )
        return out.result(data, explicit_empty=ctx.role == "declared")

    def _walk(
        self,
        items: list[Any],
        out: Collector,
        path: str,
        group: str | None,
        recorded: Sequence[tuple[str, int | None, str | None] | None] = (),
    ) -> None:
        """``recorded``: for a report's missing CIDRs, where the report says each came from
        (its first origin), kept in the entry's path (``from servicenow (c.spf...)``) so that
        rules made from a saved report name it too."""
        for i, item in enumerate(items):
            where = f"{path}[{i}]"
            if path == "$.missing":
                where += ".cidr"
            origin = out.origin(None, where)
            kept = recorded[i] if i < len(recorded) else None
            if kept is not None and isinstance(item, str):
                # the entry takes the report's origin; a bad CIDR is still named in the report
                try:
                    parsed = ipspace.parse(item.strip(), out.ctx.host_bits)
                except AddressError:
                    pass
                else:
                    said = Origin(kept[0], kept[1], kept[2])
                    out.add(parsed, item.strip(), out.origin(None, f"from {said}"), group)
                    continue
            if not isinstance(item, str):
                out.note(
                    "bad-entry",
                    Severity.ERROR,
                    f"entry {where} is {type(item).__name__} {item!r}, not a string",
                    origin,
                )
                continue
            out.add_text(item.strip(), origin, group)
