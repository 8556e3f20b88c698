"""The JSON list reader: lists, groups, and what the standard json module lets through."""

from __future__ import annotations

import pytest

from auditor.allowlists import ReaderError
from auditor.model import Completeness, RangeSet, Severity

from .helpers import of_kind, read, space


def jsn(text: str) -> RangeSet:
    return read("json", text, name="allow.json")


def json_error(text: str) -> ReaderError:
    with pytest.raises(ReaderError) as info:
        jsn(text)
    return info.value


def test_a_list_of_strings() -> None:
    rs = jsn('["192.0.2.0/24", "2001:db8::/32", " 198.51.100.7 "]')
    assert rs.space == space("192.0.2.0/24", "2001:db8::/32", "198.51.100.7")
    assert sorted(str(e.origin) for e in rs.entries) == [
        "allow.json ($[0])",
        "allow.json ($[1])",
        "allow.json ($[2])",
    ]
    assert rs.completeness is Completeness.COMPLETE
    assert rs.findings == ()


def test_groups_object() -> None:
    rs = jsn('{\n  "mail": ["192.0.2.0/24", "198.51.100.7"],\n  "web": ["10.0.0.0/8"]\n}\n')
    assert rs.groups == ("mail", "web")
    assert rs.scope("mail") == space("192.0.2.0/24", "198.51.100.7")
    assert rs.scope("web") == space("10.0.0.0/8")
    second = next(e for e in rs.entries if e.text == "198.51.100.7/32")
    assert second.group == "mail"
    assert second.origin.path == "$.mail[1]"


def test_a_group_that_is_not_a_list_is_an_error() -> None:
    error = json_error('{"mail": "192.0.2.1"}')
    assert "'mail'" in str(error)
    assert "[]" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        '{"mail": ["192.0.2.1"], "mail": ["198.51.100.1"]}',
        '{"mail": ["192.0.2.1"], "web": [], "mail": []}',
    ],
)
def test_duplicate_keys_are_rejected(text: str) -> None:
    error = json_error(text)
    assert str(error).startswith("allow.json")
    assert "duplicate" in str(error)
    assert "'mail'" in str(error)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_rejected(constant: str) -> None:
    """Python's json accepts these (1e999 becomes infinity); strict JSON does not."""
    error = json_error(f'["192.0.2.1", {constant}]')
    assert constant in str(error)
    assert "invalid JSON" in str(error)


@pytest.mark.parametrize(
    ("item", "type_name"),
    [
        ("16909060", "int"),
        ("null", "NoneType"),
        ("true", "bool"),
        ('["198.51.100.1"]', "list"),
        ('{"a": "198.51.100.1"}', "dict"),
        ("1.5", "float"),
    ],
)
def test_non_string_entries_are_bad_entries_with_their_path(item: str, type_name: str) -> None:
    rs = jsn(f'["192.0.2.1", "203.0.113.1", {item}]')
    (error,) = of_kind(rs, "bad-entry")
    assert error.severity is Severity.ERROR
    assert error.origin is not None and error.origin.path == "$[2]"
    assert str(error.origin) == "allow.json ($[2])"
    assert type_name in error.message
    assert "not a string" in error.message
    assert rs.space == space("192.0.2.1", "203.0.113.1")
    assert rs.completeness is Completeness.PARTIAL


def test_a_non_string_in_a_group_has_the_group_path() -> None:
    rs = jsn('{"mail": ["192.0.2.1", 16909060]}')
    (error,) = of_kind(rs, "bad-entry")
    assert error.origin is not None and error.origin.path == "$.mail[1]"


def test_an_invalid_address_is_a_bad_entry() -> None:
    rs = jsn('["192.0.2.1", "010.1.1.1"]')
    (error,) = of_kind(rs, "bad-entry")
    assert error.origin is not None and error.origin.path == "$[1]"
    assert "leading zero" in error.message


@pytest.mark.parametrize("text", ["[]", "[]\n", "{}", '{"mail": []}'])
def test_explicitly_empty_is_a_valid_empty_set(text: str) -> None:
    rs = jsn(text)
    assert not rs.space
    assert rs.completeness is Completeness.COMPLETE
    assert rs.findings == ()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[\n"192.0.2.1",\n"198.51.100.1"\n,]\n', 4),  # trailing comma: ']' on line 4
        ('["192.0.2.1"]\n\n["198.51.100.1"]\n', 3),  # extra data on line 3
        ('{\n"mail": [\n"192.0.2.1"\n}\n', 4),  # '}' closes a list on line 4
        ("[\n'192.0.2.1'\n]\n", 2),  # single quotes are not JSON
    ],
)
def test_invalid_json_names_the_line(text: str, line: int) -> None:
    error = json_error(text)
    assert error.line == line
    assert str(error).startswith(f"allow.json:{line}: invalid JSON")


@pytest.mark.parametrize("text", ['"192.0.2.1"', "16909060", "null", "true"])
def test_a_scalar_document_is_an_error(text: str) -> None:
    error = json_error(text)
    assert "list" in str(error)


def test_deep_nesting_is_a_reader_error() -> None:
    with pytest.raises(ReaderError):
        jsn("[" * 100_000 + "]" * 100_000)


def test_bom_is_accepted() -> None:
    rs = read("json", b'\xef\xbb\xbf["192.0.2.1"]', name="allow.json")
    assert rs.space == space("192.0.2.1")
