"""The YAML list reader: lists, groups, typing traps, unsafe tags, and hostile documents."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.allowlists import ReaderError
from auditor.ipspace import HostBitsPolicy
from auditor.model import Completeness, RangeSet, Severity

from .helpers import of_kind, read, space


def yaml(text: str, host_bits: HostBitsPolicy = "fix") -> RangeSet:
    return read("yaml", textwrap.dedent(text), name="allow.yaml", host_bits=host_bits)


def yaml_error(text: str) -> ReaderError:
    with pytest.raises(ReaderError) as info:
        yaml(text)
    return info.value


def test_a_plain_list() -> None:
    rs = yaml(
        """\
        # relays
        - 192.0.2.0/24
        - '2001:db8::/32'
        - "198.51.100.7"
        """
    )
    assert rs.space == space("192.0.2.0/24", "2001:db8::/32", "198.51.100.7")
    assert sorted((str(e.origin), e.group) for e in rs.entries) == [
        ("allow.yaml:2 ([0])", None),
        ("allow.yaml:3 ([1])", None),
        ("allow.yaml:4 ([2])", None),
    ]
    assert rs.completeness is Completeness.COMPLETE
    assert rs.groups == ()


def test_groups_keep_their_name_line_and_path() -> None:
    rs = yaml(
        """\
        mail:
          - 192.0.2.0/24
          - 198.51.100.0/24
          - 203.0.113.7
        web:
          - 10.0.0.0/8
        """
    )
    assert rs.groups == ("mail", "web")
    by_text = {e.text: e for e in rs.entries}
    third = by_text["203.0.113.7/32"]
    assert third.group == "mail"
    assert third.origin.line == 4
    assert third.origin.path == "mail[2]"
    assert str(third.origin) == "allow.yaml:4 (mail[2])"
    assert by_text["10.0.0.0/8"].group == "web"
    assert by_text["10.0.0.0/8"].origin.path == "web[0]"
    assert rs.scope("mail") == space("192.0.2.0/24", "198.51.100.0/24", "203.0.113.7")
    assert rs.scope("web") == space("10.0.0.0/8")


def test_an_empty_group_is_allowed() -> None:
    rs = yaml("mail: []\nweb:\n  - 10.0.0.0/8\n")
    assert rs.space == space("10.0.0.0/8")
    assert rs.completeness is Completeness.COMPLETE


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    error = yaml_error(
        """\
        mail:
          - 192.0.2.0/24
        web: []
        mail:
          - 10.0.0.0/8
        """
    )
    assert error.line == 4
    assert str(error).startswith("allow.yaml:4: ")
    assert "'mail'" in str(error)
    assert "line 1" in str(error)


@pytest.mark.parametrize("key", ["mail", "web"])
def test_unquoted_ipv6_is_a_base60_integer_error_with_its_path(key: str) -> None:
    # YAML 1.1: 1:2:3:4:5:6:7:8 is sexagesimal, i.e. an int (RELIABILITY.md 2.10)
    rs = yaml(f"{key}:\n  - 192.0.2.1\n  - 1:2:3:4:5:6:7:8\n")
    (error,) = of_kind(rs, "bad-entry")
    assert error.severity is Severity.ERROR
    assert str(error.origin) == f"allow.yaml:3 ({key}[1])"
    assert "int" in error.message
    assert "quote" in error.message
    assert "'1:2:3:4:5:6:7:8'" in error.message  # shows how to write it
    assert rs.space == space("192.0.2.1")
    assert rs.completeness is Completeness.PARTIAL


def test_quoted_ipv6_is_read() -> None:
    rs = yaml("- '1:2:3:4:5:6:7:8'\n- \"2001:db8::1\"\n")
    assert rs.space == space("1:2:3:4:5:6:7:8", "2001:db8::1")
    assert rs.findings == ()


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        pytest.param("010", "8", id="octal-int"),
        pytest.param("0x7f000001", "2130706433", id="hex-int"),
        pytest.param("1:30", "90", id="sexagesimal"),
        pytest.param("16909060", "16909060", id="plain-int"),
        pytest.param("1.5", "1.5", id="float"),
        pytest.param("yes", "True", id="bool"),
        pytest.param("~", "None", id="null"),
    ],
)
def test_non_string_scalars_are_errors_that_say_the_type(item: str, shown: str) -> None:
    rs = yaml(f"- 192.0.2.1\n- {item}\n")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "allow.yaml:2 ([1])"
    assert "not a string" in error.message
    assert shown in error.message  # what YAML turned it into
    assert "quote" in error.message
    assert rs.space == space("192.0.2.1")
    assert rs.completeness is Completeness.PARTIAL


def test_a_huge_unquoted_integer_is_a_bad_entry_not_a_crash() -> None:
    # int() refuses more than 4300 digits (CVE-2020-10735 limit); this must stay a finding
    rs = yaml("- 192.0.2.1\n- 1" + "0" * 5000 + "\n")
    (error,) = of_kind(rs, "bad-entry")
    assert error.origin is not None and error.origin.line == 2
    assert "not a string" in error.message
    assert len(error.message) < 1000


def test_nested_list_and_mapping_entries_are_errors() -> None:
    rs = yaml("- 192.0.2.1\n- [10.0.0.1]\n- {a: 10.0.0.2}\n")
    errors = of_kind(rs, "bad-entry")
    assert [str(f.origin) for f in errors] == ["allow.yaml:2 ([1])", "allow.yaml:3 ([2])"]
    assert rs.space == space("192.0.2.1")


def test_an_invalid_address_in_yaml_has_line_and_path() -> None:
    rs = yaml("web:\n  - 192.0.2.1\n  - 010.1.1.1\n")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "allow.yaml:3 (web[1])"
    assert "leading zero" in error.message


def test_host_bits_in_yaml() -> None:
    rs = yaml("- 10.0.0.5/8\n")
    assert rs.space == space("10.0.0.0/8")
    assert [str(f.origin) for f in of_kind(rs, "host-bits")] == ["allow.yaml:1 ([0])"]
    rejected = yaml("- 192.0.2.0/24\n- 10.0.0.5/8\n", host_bits="reject")
    (error,) = of_kind(rejected, "bad-entry")
    assert str(error.origin) == "allow.yaml:2 ([1])"
    assert "host bits" in error.message
    assert rejected.space == space("192.0.2.0/24")
    assert rejected.completeness is Completeness.PARTIAL


def test_null_group_is_an_error() -> None:
    error = yaml_error("mail:\nweb:\n  - 192.0.2.1\n")
    assert error.line == 1
    assert "'mail'" in str(error)
    assert "[]" in str(error)  # the hint says how to write an empty group


def test_a_group_that_is_not_a_list_is_an_error() -> None:
    error = yaml_error("mail:\n  inner:\n    - 192.0.2.1\n")
    assert error.line == 2
    assert "mail" in str(error)


def test_a_group_name_that_is_not_a_string_is_an_error() -> None:
    error = yaml_error("mail:\n  - 192.0.2.1\n2: [198.51.100.1]\n")
    assert error.line == 3
    assert "not a string" in str(error)


def test_a_scalar_document_is_an_error() -> None:
    error = yaml_error("192.0.2.1\n")
    assert error.line == 1
    assert "list" in str(error)


# --- tags outside the YAML core schema --------------------------------------------------------


def test_python_object_entry_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    rs = yaml(f'- !!python/object/apply:os.system ["touch {marker}"]\n- 192.0.2.1\n')
    assert not marker.exists()
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "allow.yaml:1 ([0])"
    assert "python/object" in error.message
    assert rs.space == space("192.0.2.1")
    assert rs.completeness is Completeness.PARTIAL


@pytest.mark.parametrize(
    ("document", "tag"),
    [
        pytest.param(
            '!!python/object/apply:os.system ["touch {marker}"]\n',
            "python/object/apply",
            id="root-sequence",
        ),
        pytest.param(
            "!!python/object/new:os.system\nmail: ['192.0.2.1', 'touch {marker}']\n",
            "python/object/new",
            id="root-mapping",
        ),
        pytest.param(
            "mail: !!python/object/apply:os.system ['touch {marker}', '192.0.2.1']\n",
            "python/object/apply",
            id="group-value",
        ),
        pytest.param("- !custom 192.0.2.1\n- 198.51.100.1\n", "!custom", id="local-tag-entry"),
    ],
)
def test_a_custom_tag_anywhere_is_refused_by_name(document: str, tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = document.replace("{marker}", str(marker))
    try:
        rs = yaml(text)
    except ReaderError as e:
        assert tag in str(e)
    else:
        assert rs.completeness is not Completeness.COMPLETE
        named = [f for f in of_kind(rs, "bad-entry") if tag in f.message]
        assert named, [f.message for f in rs.findings]
    assert not marker.exists()


# --- empty and broken documents ----------------------------------------------------------------


def test_explicit_empty_list_is_a_valid_complete_empty_set() -> None:
    rs = yaml("[]\n")
    assert not rs.space
    assert len(rs.entries) == 0
    assert rs.completeness is Completeness.COMPLETE
    assert rs.findings == ()


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here\n"])
def test_an_empty_document_is_an_error(text: str) -> None:
    error = yaml_error(text)
    assert str(error).startswith("allow.yaml: ")
    assert "[]" in str(error)  # the hint says how to allow nothing


def test_invalid_syntax_names_the_line() -> None:
    # a tab cannot indent YAML; the problem is on line 3
    error = yaml_error("- 192.0.2.1\n- 198.51.100.1\n-\t10.0.0.1\n")
    assert error.line == 3
    assert str(error).startswith("allow.yaml:3: invalid YAML")


def test_two_documents_are_an_error() -> None:
    error = yaml_error("- 192.0.2.1\n---\n- 198.51.100.1\n")
    assert error.line == 2


def test_deep_nesting_is_a_reader_error() -> None:
    with pytest.raises(ReaderError):
        yaml("[" * 50_000 + "]" * 50_000 + "\n")


# --- alias bombs (billion laughs) --------------------------------------------------------------

_BOUNDED = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from auditor.allowlists import ReadContext, ReaderError, reader_for
data = sys.stdin.buffer.read()
start = time.monotonic()
try:
    rs = reader_for("yaml").parse(data, ReadContext("lol.yaml", "declared"))
except ReaderError as e:
    longest = len(str(e))
else:
    longest = max((len(f.message) for f in rs.findings), default=0)
print(round(time.monotonic() - start, 3), longest)
"""


def _laughs(depth: int, width: int = 9, as_key: bool = False) -> bytes:
    lines = ["a: &a [" + ", ".join(["'lol'"] * width) + "]"]
    for i in range(1, depth):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    last = chr(96 + depth)
    lines.append(f"? *{last}\n: []" if as_key else f"z: [*{last}]")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("as_key", [False, True], ids=["alias-entries", "alias-as-group-name"])
def test_billion_laughs_is_bounded(as_key: bool) -> None:
    # 9 levels of 9 aliases: 9**9 (387 million) leaves if anything expands them
    data = _laughs(9, as_key=as_key)
    assert len(data) < 1000
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _BOUNDED],
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 1 KB alias bomb took more than 60 s")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    seconds, longest = proc.stdout.decode().split()
    assert float(seconds) < 10
    assert int(longest) < 10_000  # no message spells out the expansion


def test_a_kubernetes_manifest_is_named_with_how_to_list_its_cidrs() -> None:
    err = yaml_error(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: mail\n"
        "spec:\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: 192.0.2.0/24\n"
    )
    assert "a Kubernetes NetworkPolicy manifest" in str(err)
    assert err.line == 1
    assert "ipBlock.cidr" in (err.hint or "")
