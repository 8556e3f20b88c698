"""The text of a rule read from ``nft -j`` JSON, as nft would list it (for the rule shown with a
verdict and in messages)."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.allowlists.nftables.ast import (
    AnonSet,
    Bits,
    Cat,
    Expr,
    Item,
    Masked,
    Masking,
    Match,
    Maybe,
    Opaque,
    Pfx,
    Ref,
    Rng,
    Sel,
    Val,
    Value,
    Verdict,
    VMap,
)


def _render_expr(e: Expr) -> str:
    if isinstance(e, Sel):
        return f'"{e.name[8:]}"' if e.name.startswith("literal ") else e.name
    if isinstance(e, Masking):
        return f"{_render_expr(e.left)} {e.op} {_render_value(e.right)}"
    return " . ".join(_render_expr(p) for p in e.parts)


def _render_value(v: Value | Verdict | None) -> str:
    if v is None:
        return ""
    if isinstance(v, Val):
        return f'"{v.text}"' if v.quoted else v.text
    if isinstance(v, Rng):
        return f"{_render_value(v.lo)}-{_render_value(v.hi)}"
    if isinstance(v, Pfx):
        return f"{v.addr}/{v.length}"
    if isinstance(v, Cat):
        return " . ".join(_render_value(p) for p in v.parts)
    if isinstance(v, Bits):
        return ",".join(_render_value(p) for p in v.items)
    if isinstance(v, Masked):
        return f"{_render_value(v.value)} / {_render_value(v.mask)}"
    if isinstance(v, AnonSet):
        parts = [
            _render_value(e.key) + (f" : {_render_value(e.data)}" if e.data is not None else "")
            for e in v.elems
        ]
        return "{ " + ", ".join(parts) + " }"
    if isinstance(v, Ref):
        return f"@{v.name}"
    return v.kind + (f" {v.target}" if v.target else "")


def _render_rule(items: Sequence[Item | None]) -> str:
    out = []
    for i in items:
        if i is None:
            continue
        if isinstance(i, Match):
            op = "" if i.op in ("==", "in") else f"{i.op} "
            if i.op in ("exists", "missing"):
                out.append(f"{_render_expr(i.left)} {i.op}")
            else:
                out.append(f"{_render_expr(i.left)} {op}{_render_value(i.right)}")
        elif isinstance(i, Verdict):
            out.append(_render_value(i))
        elif isinstance(i, VMap):
            out.append(f"{_render_expr(i.key)} vmap {_render_value(i.data)}")
        elif isinstance(i, Maybe | Opaque):
            out.append(f"[{i.why}]")
        else:
            out.append(f"[not understood: {i.what}]")
    return " ".join(out)
