"""The JSON report: its schema, its round trip, and reading missing CIDRs back."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.jsonutil import REPORT_SCHEMA_VERSION, ReportFormatError, read_missing
from auditor.model import AuditResult
from auditor.reports import ReportContext, report_for

from .helpers import (
    HOSTILE_NAMES,
    RULES,
    SCHEMA,
    UNVERIFIED,
    UNVERIFIED_CIDRS,
    Case,
    compare,
    failed_declared_case,
    failed_expected_case,
    hostile_case,
    in_sync_case,
    load,
    partial_source_case,
    small_case,
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def render(result: AuditResult, rules: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    doc = json.loads(report_for("json").render(result, ReportContext(rules=rules)))
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(
    "case",
    [small_case, hostile_case, in_sync_case, partial_source_case, failed_declared_case],
)
def test_reports_validate_against_the_schema(
    case: Case, validator: jsonschema.Draft202012Validator
) -> None:
    validator.validate(render(case(), RULES))


def test_schema_rejects_what_it_should(validator: jsonschema.Draft202012Validator) -> None:
    doc = render(small_case())
    for path, bad in [
        (("schema_version",), 2),
        (("summary", "ipv6", "missing", "addresses"), 2**80),
        (("summary", "ipv4", "missing", "addresses"), 321.0),
        (("verdict", "status"), "ok"),
        (("missing", 0, "cidr"), "192.0.2.0/26; rm -rf /"),
        (("missing_verified",), "yes"),
        (("unverified_because",), [1]),
    ]:
        broken = json.loads(json.dumps(doc))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert not validator.is_valid(broken), path


def test_document_shape() -> None:
    result = small_case()
    doc = render(result, RULES)
    assert doc["schema_version"] == REPORT_SCHEMA_VERSION == 1
    assert doc["verdict"] == {
        "status": "drift",
        "exit_code": 1,
        "reasons": [
            "11 missing CIDRs (IPv4: 10 CIDRs, 321 addresses; IPv6: 1 CIDR, 2^80 addresses)",
            "1 over-broad declared entry",
            "1 extra CIDR in scope (not failing: no --fail-on-extra)",
        ],
    }
    assert [(i["role"], i["name"]) for i in doc["inputs"]] == [
        ("expected", "more-nodes.txt"),
        ("expected", "nodes.txt"),
        ("declared", "allow.yaml"),
    ]
    assert doc["inputs"][0]["read_at"] == "2024-05-01T12:00:00Z"
    assert doc["summary"]["ipv6"]["missing"] == {"cidrs": 1, "addresses": str(2**80)}
    assert doc["missing"][7] == {
        "cidr": "192.0.2.128/25",
        "family": "ipv4",
        "addresses": "128",
        "origins": [
            {"source": "more-nodes.txt", "line": 1, "path": None},
            {"source": "nodes.txt", "line": 2, "path": None},
        ],
    }
    assert doc["partial"][1] == {
        "entry": "203.0.113.0/25",
        "family": "ipv4",
        "addresses": "128",
        "covered_addresses": "64",
        "percent": 50.0,
        "origin": {"source": "nodes.txt", "line": 4, "path": None},
    }
    assert doc["extra"][0]["origins"] == [{"source": "allow.yaml", "line": 4, "path": "mail[2]"}]
    assert doc["over_broad"][0]["kind"] == "over-broad"
    assert doc["findings"][0]["kind"] == "host-bits"
    assert doc["rules"] == [{"platform": p, "text": t} for p, t in RULES]


def test_missing_is_marked_unverified_when_a_declared_source_failed() -> None:
    doc = render(failed_declared_case())
    assert doc["missing_verified"] is False
    assert doc["unverified_because"] == ["gone.txt"]
    # the key stays for consumers that read it, with the same rows
    assert len(doc["missing"]) == doc["summary"]["total"]["missing"]["cidrs"] == 11
    assert doc["verdict"]["reasons"][1] == f"{UNVERIFIED_CIDRS} {UNVERIFIED}"


@pytest.mark.parametrize("case", [small_case, in_sync_case, failed_expected_case])
def test_missing_is_verified_when_every_declared_source_was_read(case: Case) -> None:
    doc = render(case())
    assert doc["missing_verified"] is True
    assert doc["unverified_because"] == []


def test_extra_is_null_without_a_scope() -> None:
    doc = render(in_sync_case())
    assert doc["extra"] is None
    assert doc["summary"]["total"]["extra"] is None


def test_no_floats_for_sizes() -> None:
    """Every address count is a string of digits, whatever the family."""

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif key in ("addresses", "covered_addresses"):
            assert isinstance(node, str) and node.isdigit(), (key, node)
        elif isinstance(node, float):
            assert key == "percent", key

    walk(render(small_case()))


def test_output_is_sorted_ascii_one_row_per_line() -> None:
    result = small_case()
    text = report_for("json").render(result, ReportContext(rules=RULES))
    assert text.isascii()
    assert text.startswith("{\n") and text.endswith("\n}\n")

    def sorted_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=sorted_keys)
    rows = [line for line in text.split("\n") if '"cidr": ' in line]
    assert len(rows) == result.missing.count_cidrs() + 1  # and the one extra
    for line in rows:
        json.loads(line.strip().rstrip(","))


def test_hostile_names_are_escaped_not_altered() -> None:
    text = report_for("json").render(hostile_case(), ReportContext())
    assert text.isascii()
    assert "\\u001b[31mred.txt" in text
    assert "two\\nlines.txt" in text
    assert "\\u202e" in text


def test_hostile_names_travel_unchanged() -> None:
    """JSON escaping is exact, so names are kept as they are, not neutralised."""
    doc = render(hostile_case())
    names = {i["name"] for i in doc["inputs"] if i["role"] == "expected"}
    assert names == set(HOSTILE_NAMES)
    origins = {o["source"] for m in doc["missing"] for o in m["origins"]}
    assert origins == set(HOSTILE_NAMES)


def test_read_missing_gives_back_the_missing_cidrs() -> None:
    result = small_case()
    doc = json.loads(report_for("json").render(result, ReportContext()))
    assert read_missing(doc) == list(result.missing.cidrs_text())


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (["192.0.2.0/24"], "not an auditor JSON report"),
        ({"missing": []}, "not an auditor JSON report"),
        ({"schema_version": 2, "missing": []}, "schema_version 2 is not supported"),
        ({"schema_version": True, "missing": []}, "schema_version True is not supported"),
        ({"schema_version": 1}, "no 'missing' list"),
        ({"schema_version": 1, "missing": [{"cidr": 5}]}, "missing[0] has no 'cidr'"),
    ],
)
def test_read_missing_refuses_other_documents(doc: object, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message.replace("[", r"\[")):
        read_missing(doc, "saved.json")


def _cidr(family: int) -> st.SearchStrategy[str]:
    bits = ipspace.BITS[family]
    low = 8 if family == 4 else 16

    def make(value: int, plen: int) -> str:
        mask = ((1 << plen) - 1) << (bits - plen)
        return ipspace.format_cidr(family, value & mask, plen)

    return st.builds(make, st.integers(0, (1 << bits) - 1), st.integers(low, bits))


_cidrs = st.lists(st.one_of(_cidr(4), _cidr(6)), min_size=1, max_size=30)


@settings(max_examples=75, deadline=None)
@given(expected=_cidrs, declared=_cidrs)
def test_round_trip_missing(expected: list[str], declared: list[str]) -> None:
    result = compare(
        [load("expected.txt", "expected", "\n".join(expected) + "\n")],
        [load("declared.txt", "declared", "\n".join(declared) + "\n")],
    )
    doc = render(result)
    want = list(result.missing.cidrs_text())
    assert [m["cidr"] for m in doc["missing"]] == want
    assert read_missing(doc) == want
    assert sum(int(m["addresses"]) for m in doc["missing"]) == result.missing.size()
    assert int(doc["summary"]["total"]["missing"]["addresses"]) == result.missing.size()
    assert ipspace.IPSpace.from_text(m["cidr"] for m in doc["missing"]) == result.missing
    for m in doc["missing"]:
        assert m["origins"], m
    assert doc["verdict"]["exit_code"] == (1 if want or result.over_broad else 0)
