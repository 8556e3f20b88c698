"""The Apache lowering against a brute-force reading of mod_authz_core and mod_access_compat.

Random ``Require`` trees (containers, negations, ``<Limit>``, directives that are not evaluated)
and random ``Allow``/``Deny`` lists are lowered to the ruleset intermediate form and evaluated by
the engine; the brute force evaluates them for one address at a time, literally: the results
of mod_authz_core, and every way the host names and variables could match.
"""

from __future__ import annotations

import itertools
import random

import pytest

from auditor.allowlists.web import apache_lower
from auditor.allowlists.web.apache_lower import AuthzNode, CompatItem, Own, Result, leaves
from auditor.model import Origin, RuleRef, Segment
from auditor.ruleset.engine import evaluate, first_match
from auditor.ruleset.ir import DROP, Action

TOP = (1 << 32) - 1
SPAN = 32
POINTS = [*range(SPAN + 1), TOP]


def outcome_at(segments: tuple[Segment, ...], x: int) -> Segment:
    return next(s for s in segments if s.first <= x <= s.last)


def own_at(own: Own, x: int) -> Result:
    for result, sources in own:
        if sources is None or any(a <= x <= b for a, b in sources):
            return result
    raise AssertionError("a directive's own result covers every address")


# --- Require -----------------------------------------------------------------------------------


def result_at(node: AuthzNode, owns: dict[int, Own], x: int) -> Result:
    """mod_authz_core, for one address (C: not known from the file)."""
    if node.kind == "require":
        return own_at(owns[id(node)], x)
    kids = [result_at(k, owns, x) for k in node.children]
    if node.kind == "limit":
        return "C" if any(r != "N" for r in kids) else "N"
    strong = "GCD" if node.kind in ("any", "none") else "DCG"
    got: Result = next((r for r in strong if r in kids), "N")  # type: ignore[assignment]
    return {"G": "D", "D": "N", "N": "N", "C": "C"}[got] if node.negated else got


def random_tree(rng: random.Random, owns: dict[int, Own], depth: int = 0) -> AuthzNode:
    if depth < 3 and rng.random() < 0.35:
        kind = rng.choice(["all", "any", "none", "limit"])
        node = AuthzNode(kind, 0, kind, negated=kind == "none")
        node.children = [random_tree(rng, owns, depth + 1) for _ in range(rng.randint(0, 3))]
        return node
    leaf = AuthzNode("require", len(owns) + 1, f"Require {len(owns) + 1}")
    pick = rng.random()
    own: Own
    if pick < 0.6:
        a = rng.randrange(SPAN)
        b = min(SPAN - 1, a + rng.randrange(12))
        rest = tuple(iv for iv in ((0, a - 1), (b + 1, TOP)) if iv[0] <= iv[1])
        own = (("G", ((a, b),)), ("D", rest))
    elif pick < 0.8:
        own = ((rng.choice(("G", "D")), None),)
    else:
        own = (("C", None),)
    if rng.random() < 0.3:
        leaf.negated = True
        own = apache_lower.negate(own)
    owns[id(leaf)] = own
    return leaf


@pytest.mark.parametrize("seed", range(400))
def test_require_tree(seed: int) -> None:
    rng = random.Random(seed)
    owns: dict[int, Own] = {}
    root = AuthzNode("any", 0, "section", children=[random_tree(rng, owns) for _ in range(3)])
    refs = apache_lower.SectionRefs(
        RuleRef(Origin("t"), "denied"), RuleRef(Origin("t"), "neutral"), RuleRef(Origin("t"), "?")
    )
    line = {id(leaf): leaf.line for leaf in leaves(root)}
    own = {
        k: (RuleRef(Origin("t", line[k]), f"leaf {line[k]}"), f"why {line[k]}", o)
        for k, o in owns.items()
    }
    got = evaluate(apache_lower.RequireLowering("t", 4, own, refs).ruleset(root), None).segments
    for x in POINTS:
        result = result_at(root, owns, x)
        seg = outcome_at(got, x)
        assert seg.outcome == {"G": "accept", "D": "drop", "N": "drop", "C": "conditional"}[result]
        # named by the first directive that gives the section's result by itself
        first = next((leaf for leaf in leaves(root) if own_at(owns[id(leaf)], x) == result), None)
        if result == "N":
            assert seg.rule == refs.neutral
        elif first is None:
            assert seg.rule == (refs.denied if result == "D" else refs.unknown)
        else:
            assert seg.rule.origin.line == first.line, (seed, x)


# --- Order/Allow/Deny --------------------------------------------------------------------------


def random_items(rng: random.Random, lines: int, line0: int) -> list[CompatItem]:
    out = []
    for k in range(lines):
        ref = RuleRef(Origin("t", line0 + k), f"line {line0 + k}")
        for _ in range(rng.randint(1, 2)):
            pick = rng.random()
            if pick < 0.6:
                a = rng.randrange(SPAN)
                out.append(CompatItem(ref, k, ((a, min(SPAN - 1, a + rng.randrange(12))),)))
            elif pick < 0.75:
                out.append(CompatItem(ref, k))
            else:
                out.append(CompatItem(ref, k, None, f"host {len(out)}"))
    return out


def brute_order(allow_wins: bool, allow: list[CompatItem], deny: list[CompatItem], x: int) -> str:
    """Every way the host names could match: one outcome, or conditional."""
    unknown = [it for it in (*allow, *deny) if it.why]
    seen = set()
    for truth in itertools.product((False, True), repeat=len(unknown)):
        holds = {id(it): t for it, t in zip(unknown, truth, strict=True)}

        def matches(items: list[CompatItem], holds: dict[int, bool] = holds) -> bool:
            return any(
                holds[id(it)]
                if it.why
                else it.sources is None or any(a <= x <= b for a, b in it.sources)
                for it in items
            )

        if allow_wins:
            seen.add("accept" if matches(allow) or not matches(deny) else "drop")
        else:
            seen.add("drop" if matches(deny) or not matches(allow) else "accept")
    return seen.pop() if len(seen) == 1 else "conditional"


@pytest.mark.parametrize("seed", range(300))
def test_order_allow_deny(seed: int) -> None:
    rng = random.Random(seed)
    allow = random_items(rng, rng.randint(0, 3), 10)
    deny = random_items(rng, rng.randint(0, 3), 20)
    end = RuleRef(Origin("t"), "default")
    for allow_wins in (True, False):
        rules = apache_lower.order_rules(allow_wins, allow, deny, DROP)
        got = first_match(rules, 4, "accept" if allow_wins else "drop", end, None).segments
        for x in POINTS:
            assert outcome_at(got, x).outcome == brute_order(allow_wins, allow, deny, x), (
                seed,
                allow_wins,
                x,
            )


def test_satisfy_any_makes_denials_conditional() -> None:
    deny = [CompatItem(RuleRef(Origin("t", 1), "Deny from 0.0.0.0/28"), 0, ((0, 15),))]
    rules = apache_lower.order_rules(False, [], deny, Action("drop", unsure="sat"))
    end = RuleRef(Origin("t"), "default", "sat")
    got = first_match(rules, 4, "conditional", end, None).segments
    assert [(s.outcome, s.rule.why) for s in got] == [("conditional", "sat")] * 2
