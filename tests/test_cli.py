"""The command line: every exit code, error messages, stdin, registries, and hostile inputs.

Exit codes (README, ``--help``): 0 every source complete and nothing missing; 1 drift; 2 trouble.
Most tests run the app in-process (``run_cli``); a few need a real process boundary
(``python -m auditor``, peak memory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.allowlists import READERS
from auditor.reports import REPORTS
from auditor.rules import GENERATORS

# The fixtures of tests/conftest.py: write(name, content) -> Path; run_cli(*args, input=None)
# -> (exit code, stdout, stderr).
WriteFile = Callable[[str, "str | bytes"], Path]
RunCli = Callable[..., tuple[int, str, str]]

EXPECTED = "192.0.2.0/24\n198.51.100.0/24\n"
ALL = "198.51.100.0/24\n192.0.2.0/24\n"
HALF = "192.0.2.0/24\n"
MISSING = "198.51.100.0/24\n"


@pytest.fixture
def inputs(write: WriteFile) -> None:
    write("exp.txt", EXPECTED)
    write("all.txt", ALL)
    write("half.txt", HALF)


def diff(run_cli: RunCli, *args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    """``auditor diff -o cidr ARGS``: stdout is then exactly the missing CIDRs, one per line."""
    return run_cli("diff", "-o", "cidr", *args, input=input)


def missing_of_json(run_cli: RunCli, *args: str) -> tuple[int, str]:
    """``auditor diff -o json ARGS``: the exit code and the missing CIDRs, one per line. An
    incomplete run prints no cidr list, but its JSON report (which says "incomplete") has them."""
    import json

    code, out, _ = run_cli("diff", "-o", "json", *args)
    doc = json.loads(out)
    return code, "".join(m["cidr"] + "\n" for m in doc["missing"])


def no_crash(stderr: str) -> None:
    assert "internal error" not in stderr
    assert "Traceback" not in stderr


# --- 0 and 1 -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("inputs")
def test_exit_0_when_complete_and_nothing_missing(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "all.txt")
    assert code == 0
    assert out == ""  # the cidr report lists missing CIDRs only
    assert err == ""


@pytest.mark.usefixtures("inputs")
def test_exit_0_with_the_default_report_and_quiet(run_cli: RunCli) -> None:
    code, out, _ = run_cli("diff", "-e", "exp.txt", "-d", "all.txt")
    assert code == 0
    assert out  # a report is printed
    code, out, _ = run_cli("diff", "-q", "-e", "exp.txt", "-d", "all.txt")
    assert (code, out) == (0, "")


@pytest.mark.usefixtures("inputs")
def test_exit_1_when_something_is_missing(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt")
    assert code == 1
    assert out == MISSING
    assert err == ""


@pytest.mark.usefixtures("inputs")
def test_several_expected_and_declared_sources_are_united(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("more.txt", "203.0.113.0/24\n")
    write("other.txt", "198.51.100.0/25\n")
    code, out, _ = diff(
        run_cli, "-e", "exp.txt", "-e", "more.txt", "-d", "half.txt", "-d", "other.txt"
    )
    assert code == 1
    assert out == "198.51.100.128/25\n203.0.113.0/24\n"


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param("0.0.0.0/0\n", id="v4-any"),
        pytest.param("192.0.2.0/24\n198.51.100.0/24\n::/0\n", id="v6-any"),
        pytest.param("192.0.2.0/24\n198.0.0.0/7\n", id="wider-than-slash-8"),
    ],
)
@pytest.mark.usefixtures("inputs")
def test_over_broad_declared_entry_is_not_in_sync(
    run_cli: RunCli, write: WriteFile, declared: str
) -> None:
    # nothing is missing (the broad entry covers it all), yet the run must not say "in sync"
    write("broad.txt", declared)
    code, out, _ = diff(run_cli, "-e", "exp.txt", "-d", "broad.txt")
    assert out == ""
    assert code == 1


@pytest.mark.usefixtures("inputs")
def test_a_slash_8_is_not_over_broad_by_default(run_cli: RunCli, write: WriteFile) -> None:
    write("exp8.txt", "10.1.0.0/16\n")
    write("dec8.txt", "10.0.0.0/8\n")
    code, _, _ = diff(run_cli, "-e", "exp8.txt", "-d", "dec8.txt")
    assert code == 0
    code, _, _ = diff(run_cli, "-e", "exp8.txt", "-d", "dec8.txt", "--over-broad-v4", "16")
    assert code == 1


# --- 2: unreadable or empty sources ------------------------------------------------------------


@pytest.mark.usefixtures("inputs")
def test_missing_declared_file(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "nope.txt")
    assert code == 2
    assert "error: nope.txt: no such file" in err
    assert out == ""  # an incomplete run prints no cidr list
    # the report of what could be read is still printed: everything is missing
    assert missing_of_json(run_cli, "-e", "exp.txt", "-d", "nope.txt") == (2, EXPECTED)


@pytest.mark.usefixtures("inputs")
def test_missing_expected_file(run_cli: RunCli) -> None:
    code, _, err = diff(run_cli, "-e", "nope.txt", "-d", "all.txt")
    assert code == 2
    assert "nope.txt" in err


@pytest.mark.usefixtures("inputs")
def test_a_directory_is_not_a_list(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "adir")
    assert code == 2
    assert "error: adir: " in err
    assert "directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
@pytest.mark.usefixtures("inputs")
def test_permission_denied(run_cli: RunCli, write: WriteFile) -> None:
    path = write("secret.txt", HALF)
    path.chmod(0)
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "secret.txt")
    assert code == 2
    assert "error: secret.txt: permission denied" in err


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        pytest.param("e.txt", "", "empty", id="empty-file"),
        pytest.param("e.txt", "\n  \r\n", "empty", id="blank-file"),
        pytest.param("e.txt", "# nothing yet\n; really\n", "no entries", id="only-comments"),
        pytest.param("e.txt", "010.1.1.1\n1.2.3.4/33\n", "no valid entry", id="no-valid-entry"),
        pytest.param("e.yaml", "", "empty", id="empty-yaml-file"),
        pytest.param("e.yaml", "# nothing\n", "empty", id="comment-only-yaml"),
    ],
)
@pytest.mark.usefixtures("inputs")
def test_an_expected_source_without_entries_is_trouble(
    run_cli: RunCli, write: WriteFile, name: str, content: str, what: str
) -> None:
    write(name, content)
    code, out, err = diff(run_cli, "-e", name, "-d", "all.txt")
    assert code == 2
    assert f"error: {name}" in err
    assert what in err
    assert out == ""


@pytest.mark.parametrize(("name", "content"), [("e.yaml", "[]\n"), ("e.json", "[]")])
@pytest.mark.usefixtures("inputs")
def test_an_explicitly_empty_expected_source_is_trouble(
    run_cli: RunCli, write: WriteFile, name: str, content: str
) -> None:
    # Comparing with nothing expected would say "in sync" about any allowlist: fail closed.
    write(name, content)
    code, _, _ = diff(run_cli, "-e", name, "-d", "half.txt")
    assert code == 2


@pytest.mark.usefixtures("inputs")
def test_an_empty_declared_file_is_trouble(run_cli: RunCli, write: WriteFile) -> None:
    write("empty.txt", "")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "empty.txt")
    assert code == 2
    assert "error: empty.txt: file is empty" in err
    assert out == ""
    # nothing is allowed, so everything is missing
    assert missing_of_json(run_cli, "-e", "exp.txt", "-d", "empty.txt") == (2, EXPECTED)


@pytest.mark.parametrize(("name", "content"), [("none.yaml", "[]\n"), ("none.json", "[]\n")])
@pytest.mark.usefixtures("inputs")
def test_an_explicitly_empty_declared_list_is_valid(
    run_cli: RunCli, write: WriteFile, name: str, content: str
) -> None:
    write(name, content)
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", name)
    assert code == 1
    assert out == EXPECTED
    assert "error" not in err


# --- 2: bad content ----------------------------------------------------------------------------


@pytest.mark.usefixtures("inputs")
def test_a_malformed_line_is_reported_and_the_rest_still_audited(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("feed.txt", "192.0.2.0/24\n010.1.1.1\n198.51.100.0/24\n")
    code, out, err = diff(run_cli, "-e", "feed.txt", "-d", "half.txt")
    assert code == 2
    assert "feed.txt:2: '010.1.1.1'" in err
    assert "leading zero" in err
    assert out == ""
    # what could be read was still compared
    assert missing_of_json(run_cli, "-e", "feed.txt", "-d", "half.txt") == (2, MISSING)


@pytest.mark.usefixtures("inputs")
def test_partial_source_never_exits_0_even_when_nothing_is_missing(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("dec.txt", "192.0.2.0/24\n198.51.100.0/24\n1.2.3.4/33\n")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "dec.txt")
    assert code == 2
    assert out == ""
    assert "dec.txt:3: " in err
    assert "/33" in err


@pytest.mark.usefixtures("inputs")
@pytest.mark.parametrize("lenient", [[], ["--lenient"]], ids=["strict", "lenient"])
def test_an_abbreviation_or_a_glob_is_a_bad_entry_never_a_silent_drop(
    run_cli: RunCli, write: WriteFile, lenient: list[str]
) -> None:
    # the author meant 10.0.0.0/8 and 172.16.0.0/16: the list is partial, the run is not clean
    write("wild.txt", "10/8\n172.16.*\n192.0.2.0/24\n")
    code, out, err = diff(run_cli, "-e", "half.txt", "-d", "wild.txt", *lenient)
    assert code == 2
    assert out == ""
    assert "no address" not in err
    assert "wild.txt:1: " in err and "write 10.0.0.0/8" in err
    assert "wild.txt:2: " in err and "write 172.16.0.0/16" in err
    assert "wild.txt: source is partial: 2 line(s) could not be read" in err


@pytest.mark.usefixtures("inputs")
def test_host_bits_fixed_with_a_warning_or_rejected(run_cli: RunCli, write: WriteFile) -> None:
    write("hb.txt", "192.0.2.1/24\n198.51.100.0/24\n")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "hb.txt")
    assert code == 0
    assert "warning: hb.txt:1: " in err
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "hb.txt", "--host-bits", "reject")
    assert code == 2
    assert "hb.txt:1: '192.0.2.1/24' has host bits set" in err
    assert "192.0.2.0/24" in err  # the hint gives the network to write
    assert out == ""
    args = ("-e", "exp.txt", "-d", "hb.txt", "--host-bits", "reject")
    assert missing_of_json(run_cli, *args) == (2, "192.0.2.0/24\n")


@pytest.mark.usefixtures("inputs")
def test_yaml_with_a_python_tag_is_refused_and_nothing_runs(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    write("evil.yaml", f'- !!python/object/apply:os.system ["touch {marker}"]\n- 192.0.2.0/24\n')
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "evil.yaml")
    assert code == 2
    assert "evil.yaml:1 ([0])" in err
    assert "python/object" in err
    assert not marker.exists()
    assert out == ""
    assert missing_of_json(run_cli, "-e", "exp.txt", "-d", "evil.yaml") == (2, MISSING)


@pytest.mark.usefixtures("inputs")
def test_deeply_nested_json_is_a_clear_error(run_cli: RunCli, write: WriteFile) -> None:
    write("deep.json", "[" * 100_000 + "]" * 100_000)
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "deep.json")
    assert code == 2
    assert "error: deep.json" in err
    no_crash(err)


@pytest.mark.usefixtures("inputs")
def test_a_huge_garbage_line_gives_a_short_message(run_cli: RunCli, write: WriteFile) -> None:
    # 2 MB of base64-like text on one line: the message must not echo it back
    write("blob.txt", ("QUJDRA+/" * 262_144) + "\n")
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "blob.txt")
    assert code == 2
    assert "error: blob.txt:1: " in err
    assert len(err) < 10_000


# --- 2: bad usage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service", ["smtpx", "dns", "tcp/0", "tcp/65536", "tcp/025", "icmp/8", "tcp/"]
)
@pytest.mark.usefixtures("inputs")
def test_bad_service(run_cli: RunCli, service: str) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--service", service)
    assert code == 2
    assert err.startswith("error: ")
    assert service in err
    assert out == ""


@pytest.mark.usefixtures("inputs")
def test_unknown_output_lists_the_reports(run_cli: RunCli) -> None:
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "half.txt", "--output", "pdf")
    assert code == 2
    assert err.startswith("error: unknown report 'pdf'")
    for name in REPORTS:
        assert name in err
    assert out == ""


@pytest.mark.usefixtures("inputs")
def test_unknown_format_lists_the_readers(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--format", "xml")
    assert code == 2
    assert "'xml'" in err
    for name in READERS:
        assert name in err
    assert out == ""


@pytest.mark.usefixtures("inputs")
def test_unknown_rule_platform(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--rules", "nope")
    assert code == 2
    assert "'nope'" in err
    for name in GENERATORS:
        assert name in err


@pytest.mark.parametrize("value", ["maybe", "FIX", ""])
@pytest.mark.usefixtures("inputs")
def test_bad_host_bits_policy(run_cli: RunCli, value: str) -> None:
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--host-bits", value)
    assert code == 2
    assert "--host-bits" in err


@pytest.mark.parametrize(
    ("option", "value"), [("--over-broad-v4", "33"), ("--over-broad-v6", "-1")]
)
@pytest.mark.usefixtures("inputs")
def test_bad_over_broad_limit(run_cli: RunCli, option: str, value: str) -> None:
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", option, value)
    assert code == 2
    assert value in err


@pytest.mark.usefixtures("inputs")
def test_unknown_scope_lists_the_groups(run_cli: RunCli, write: WriteFile) -> None:
    write("groups.yaml", "mail:\n  - 192.0.2.0/24\nweb:\n  - 10.0.0.0/8\n")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "groups.yaml", "--scope", "relay")
    assert code == 2
    assert "'relay'" in err
    assert "mail, web" in err
    code, _, _ = diff(run_cli, "-e", "exp.txt", "-d", "all.txt", "--scope", "mail")
    assert code == 2  # a text list has no groups at all


@pytest.mark.usefixtures("inputs")
def test_scope_extra_and_fail_on_extra(run_cli: RunCli, write: WriteFile) -> None:
    write("groups.yaml", "mail:\n  - 192.0.2.0/24\n  - 203.0.113.0/24\nweb:\n  - 10.0.0.0/8\n")
    code, out, _ = diff(run_cli, "-e", "exp.txt", "-d", "groups.yaml", "--scope", "mail")
    assert (code, out) == (1, MISSING)
    write("full.yaml", "mail:\n  - 192.0.2.0/24\n  - 198.51.100.0/24\n  - 203.0.113.0/24\n")
    code, _, _ = diff(run_cli, "-e", "exp.txt", "-d", "full.yaml", "--scope", "mail")
    assert code == 0  # extras are reported, not failed on, unless asked
    code, _, _ = diff(
        run_cli, "-e", "exp.txt", "-d", "full.yaml", "--scope", "mail", "--fail-on-extra"
    )
    assert code == 1


@pytest.mark.usefixtures("inputs")
def test_an_empty_group_is_a_known_scope(run_cli: RunCli, write: WriteFile) -> None:
    # the group exists (nothing allowed for this provider yet): not a usage error
    write("groups.yaml", "mail: []\nweb:\n  - 192.0.2.0/24\n  - 198.51.100.0/24\n")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "groups.yaml", "--scope", "mail")
    assert "unknown scope" not in err
    assert (code, out) == (0, "")


def test_missing_required_option_is_usage(run_cli: RunCli) -> None:
    code, _, err = run_cli("diff", "-e", "exp.txt")
    assert code == 2
    assert "--declared" in err


@pytest.mark.usefixtures("inputs")
def test_max_bytes_exceeded_for_a_file_and_stdin(run_cli: RunCli) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--max-bytes", "20")
    assert code == 2
    assert "error: exp.txt: file is 29 bytes, over the limit of 20" in err
    assert "--max-bytes" in err
    assert "half.txt" not in err  # 13 bytes: under the limit
    code, _, err = diff(run_cli, "-e", "-", "-d", "half.txt", "--max-bytes", "20", input=EXPECTED)
    assert code == 2
    assert "<stdin>" in err
    assert "limit of 20" in err


# --- --debug -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("inputs")
def test_debug_shows_a_traceback(run_cli: RunCli) -> None:
    code, _, err = run_cli("--debug", "diff", "-o", "cidr", "-e", "exp.txt", "-d", "nope.txt")
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert "InputError" in err
    assert "error: nope.txt: no such file" in err
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "nope.txt")
    assert code == 2
    assert "Traceback" not in err


@pytest.mark.usefixtures("inputs")
def test_debug_shows_a_traceback_for_usage_errors(run_cli: RunCli) -> None:
    code, _, err = run_cli("--debug", "diff", "-e", "exp.txt", "-d", "half.txt", "-o", "pdf")
    assert code == 2
    assert "Traceback (most recent call last)" in err


# --- standard input ----------------------------------------------------------------------------


@pytest.mark.usefixtures("inputs")
def test_expected_from_stdin(run_cli: RunCli) -> None:
    code, out, _ = diff(run_cli, "-e", "-", "-d", "half.txt", input=EXPECTED)
    assert (code, out) == (1, MISSING)


@pytest.mark.usefixtures("inputs")
def test_declared_from_stdin(run_cli: RunCli) -> None:
    code, out, _ = diff(run_cli, "-e", "exp.txt", "-d", "-", input=ALL)
    assert (code, out) == (0, "")


@pytest.mark.usefixtures("inputs")
def test_stdin_json_is_detected_by_content(run_cli: RunCli) -> None:
    code, out, _ = diff(run_cli, "-e", "exp.txt", "-d", "-", input='["192.0.2.0/24"]')
    assert (code, out) == (1, MISSING)


@pytest.mark.usefixtures("inputs")
def test_empty_stdin_is_trouble(run_cli: RunCli) -> None:
    code, _, err = diff(run_cli, "-e", "exp.txt", "-d", "-", input="")
    assert code == 2
    assert "<stdin>" in err


def test_stdin_given_twice_is_a_usage_error(run_cli: RunCli) -> None:
    code, _, err = diff(run_cli, "-e", "-", "-d", "-", input=EXPECTED)
    assert code == 2
    assert "standard input" in err


# --- registries --------------------------------------------------------------------------------


def test_formats_lists_every_registered_name(run_cli: RunCli) -> None:
    code, out, _ = run_cli("formats")
    assert code == 0
    assert READERS and REPORTS and GENERATORS
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert set(READERS) | set(REPORTS) | set(GENERATORS) <= listed
    for registry in (READERS, REPORTS, GENERATORS):
        for name, cls in registry.items():
            assert cls.description in out, name


@pytest.mark.parametrize("name", sorted(REPORTS))
@pytest.mark.usefixtures("inputs")
def test_every_report_keeps_the_exit_codes(run_cli: RunCli, name: str) -> None:
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "all.txt", "--output", name)
    assert code == 0, err
    no_crash(err)
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "half.txt", "--output", name)
    assert code == 1, err
    no_crash(err)
    assert out
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "nope.txt", "--output", name)
    assert code == 2, err
    no_crash(err)


SAMPLES = {
    "text": ("192.0.2.0/24\n", "192.0.2.0/24\n198.51.100.0/24\n"),
    "json": ('["192.0.2.0/24"]', '["192.0.2.0/24", "198.51.100.0/24"]'),
    "yaml": ("- 192.0.2.0/24\n", "- 192.0.2.0/24\n- 198.51.100.0/24\n"),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_runs_through_the_cli(run_cli: RunCli, write: WriteFile, name: str) -> None:
    # neutral file names, so only --format decides how they are read
    declared, expected = SAMPLES.get(name, SAMPLES["text"])
    write("expected.in", expected)
    write("declared.in", declared)
    code, out, err = diff(run_cli, "-e", "expected.in", "-d", "declared.in", "--format", name)
    no_crash(err)
    if name in SAMPLES:
        assert (code, out) == (1, MISSING)
    else:
        assert code in (0, 1, 2)
        assert code != 2 or "error: " in err


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.usefixtures("inputs")
def test_every_rule_platform_runs_through_the_cli(run_cli: RunCli, name: str) -> None:
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "half.txt", "--rules", name)
    assert code == 1, err
    no_crash(err)
    code, out, err = run_cli("rules", name, "exp.txt")
    assert code == 0, err
    assert out
    no_crash(err)


@pytest.mark.usefixtures("inputs")
def test_rules_command_exit_codes(run_cli: RunCli, write: WriteFile) -> None:
    code, _, err = run_cli("rules", "no-such-platform", "exp.txt")
    assert code == 2
    assert "'no-such-platform'" in err
    if GENERATORS:
        platform = sorted(GENERATORS)[0]
        write("bad.txt", "192.0.2.0/24\n010.1.1.1\n")
        code, out, err = run_cli("rules", platform, "bad.txt")
        assert code == 2
        assert "bad.txt:2: " in err
        code, _, err = run_cli("rules", platform, "nope.txt")
        assert code == 2
        assert "nope.txt" in err


# --- a real process ----------------------------------------------------------------------------


def test_python_m_auditor_help_mentions_exit_codes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # help text is re-wrapped to the terminal width
    assert "Exit codes: 0 " in text
    assert "1 drift" in text
    assert "2 trouble" in text
    for command in ("diff", "rules", "formats"):
        assert command in text


def test_python_m_auditor_diff_exit_code(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "half.txt").write_text(HALF)
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "diff", "-e", "exp.txt", "-d", "-", "-o", "cidr"],
        input=HALF,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (1, MISSING)


# Runs a command and reports its exit code and the peak RSS (KiB) of its process tree, so the
# measurement is not mixed with any other child of the test process.
_MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(proc.returncode, peak)
sys.stdout.flush()
sys.stderr.buffer.write(proc.stderr)
"""

MB = 1024 * 1024


@pytest.fixture(scope="module")
def garbage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 MB of random bytes, under four names (the suffix picks the reader)."""
    folder = tmp_path_factory.mktemp("garbage")
    path = folder / "garbage.bin"
    with path.open("wb") as fh:
        for _ in range(100):
            fh.write(os.urandom(MB))
    for suffix in ("txt", "yaml", "json"):
        (folder / f"garbage.{suffix}").symlink_to(path)
    (folder / "exp.txt").write_text(EXPECTED)
    return folder


@pytest.mark.parametrize("suffix", ["bin", "txt", "yaml", "json"])
def test_100_mb_of_random_bytes_is_a_clear_error_in_bounded_memory(
    garbage: Path, suffix: str
) -> None:
    name = f"garbage.{suffix}"
    cmd = [sys.executable, "-m", "auditor", "diff", "-e", "exp.txt", "-d", name, "-o", "cidr"]
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        capture_output=True,
        text=True,
        cwd=garbage,
        timeout=300,
        check=False,
    )
    code, peak_kib = (int(x) for x in proc.stdout.split())
    assert code == 2
    assert proc.stderr.startswith(f"error: {name}: ")
    assert len(proc.stderr) < 10_000
    no_crash(proc.stderr)
    assert peak_kib * 1024 < 600 * MB


def test_100_mb_of_printable_garbage_is_a_clear_error_in_bounded_memory(tmp_path: Path) -> None:
    # The wrong file given by mistake: 100 MB of base64-like lines, ASCII, no address anywhere.
    line = b"QUJDRA+/" * 9 + b"\n"
    (tmp_path / "wrong.txt").write_bytes(line * (100 * MB // len(line)))
    (tmp_path / "exp.txt").write_text(EXPECTED)
    cmd = [
        sys.executable,
        "-m",
        "auditor",
        "diff",
        "-e",
        "exp.txt",
        "-d",
        "wrong.txt",
        "-o",
        "cidr",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    code, peak_kib = (int(x) for x in proc.stdout.split())
    assert code == 2
    assert proc.stderr.startswith("error: wrong.txt: the first 1000 entries are all invalid")
    assert len(proc.stderr) < 10_000
    assert peak_kib * 1024 < 600 * MB


# --- an incomplete run never leaves a trusted answer behind -----------------------------------


@pytest.mark.usefixtures("inputs")
def test_an_incomplete_run_keeps_the_output_file(run_cli: RunCli, write: WriteFile) -> None:
    target = write("out.cidr", "203.0.113.0/24\n")
    code, out, err = run_cli(
        "diff", "-q", "-e", "exp.txt", "-d", "nonexistent.rules", "-o", "cidr",
        "--output-file", "out.cidr",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert target.read_text() == "203.0.113.0/24\n"  # the last good answer stays
    assert "not written: nonexistent.rules is failed; out.cidr keeps its previous content" in err
    # every format: a report that says "incomplete" is still not what the file held
    for output in ("text", "json", "md", "csv"):
        code, _, err = run_cli(
            "diff", "-e", "exp.txt", "-d", "nonexistent.rules", "-o", output,
            "--output-file", "out.cidr",
        )  # fmt: skip
        assert code == 2 and "keeps its previous content" in err
        assert target.read_text() == "203.0.113.0/24\n"
    # a complete run (drift is an answer) replaces it
    code, _, _ = diff(run_cli, "-e", "exp.txt", "-d", "half.txt", "--output-file", "out.cidr")
    assert code == 1 and target.read_text() == MISSING


@pytest.mark.usefixtures("inputs")
def test_cidr_on_stdout_is_empty_when_a_source_failed_or_is_partial(
    run_cli: RunCli, write: WriteFile
) -> None:
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "nonexistent.rules")
    assert (code, out) == (2, "")
    assert "nothing printed: nonexistent.rules is failed" in err
    write("bad.txt", "192.0.2.0/24\nnot-an-address\n")
    code, out, err = diff(run_cli, "-e", "exp.txt", "-d", "bad.txt")
    assert (code, out) == (2, "")
    assert "bad.txt is partial" in err
    # csv rows cannot say it either: a spreadsheet would show every expected CIDR as missing
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "nonexistent.rules", "-o", "csv")
    assert (code, out) == (2, "")
    assert "a csv list cannot say it is incomplete" in err
    # a format that states its completeness still prints, and says so
    code, out, _ = run_cli("diff", "-e", "exp.txt", "-d", "nonexistent.rules", "-o", "json")
    assert code == 2 and '"status": "incomplete"' in out


def test_fetch_cidr_prints_nothing_when_a_source_failed(run_cli: RunCli, write: WriteFile) -> None:
    write("good.txt", "192.0.2.0/24\n")
    code, out, err = run_cli("fetch", "good.txt", "nonexistent.txt")
    assert (code, out) == (2, "")
    assert "nothing printed: nonexistent.txt is failed" in err
    code, out, _ = run_cli("fetch", "good.txt", "nonexistent.txt", "-o", "json")
    assert code == 2 and '"complete": false' in out


# --- a format per source -------------------------------------------------------------------------

MAIN_CF = "smtpd_client_restrictions = check_client_access cidr:{path}, reject\nmynetworks =\n"


def test_a_format_per_source_follows_the_findings_advice(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("nodes.txt", EXPECTED)
    table = write("client_access", "192.0.2.0/24 OK\n198.51.100.0/24 REJECT\n")
    write("main.cf", MAIN_CF.format(path=table))
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "main.cf")
    advice = f"read it with -d file+postfix-cidr:{table}"
    assert advice in err
    # the advice as given, next to an expected text list, reads both right
    code, out, err = diff(run_cli, "-e", "nodes.txt", "-d", f"file+postfix-cidr:{table}")
    assert (code, out) == (1, MISSING), err
    # --format stays the default for files without their own; the per-source one wins
    args = ("-e", "file+text:nodes.txt", "-d", "client_access", "--format", "postfix-cidr")
    assert diff(run_cli, *args)[:2] == (1, MISSING)
    code, out, err = diff(run_cli, "-e", "nodes.txt", "-d", "file+text:client_access")
    assert code == 2 and out == ""  # read as a text list, "OK" is not an address
    code, _, err = diff(run_cli, "-e", "nodes.txt", "-d", "file+postfix-cidrs:client_access")
    assert code == 2 and "unknown input format 'postfix-cidrs'" in err


def test_a_format_per_source_for_stdin(run_cli: RunCli, write: WriteFile) -> None:
    write("nodes.txt", EXPECTED)
    args = ("-e", "nodes.txt", "-d", "file+postfix-cidr:-")
    assert diff(run_cli, *args, input="192.0.2.0/24 OK\n")[:2] == (1, MISSING)
    code, _, err = diff(run_cli, "-e", "-", "-d", "file+text:-", input="192.0.2.0/24\n")
    assert code == 2 and "standard input can be read only once" in err


def test_companion_sets_with_a_format_per_source(run_cli: RunCli, write: WriteFile) -> None:
    write("nodes.txt", "192.0.2.0/24\n")
    write("fw", "*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set relays src -j ACCEPT\n"
                "COMMIT\n")  # fmt: skip
    write("sets", "create relays hash:net family inet\nadd relays 192.0.2.0/24\n")
    args = ("-e", "nodes.txt", "-d", "file+iptables-save:fw", "-d", "file+ipset:sets")
    code, out, err = diff(run_cli, *args)
    assert (code, out) == (0, ""), err


# --- the command line is the same everywhere -----------------------------------------------------

COMMANDS = ("diff", "rules", "fetch", "explain", "spf", "providers", "formats")


@pytest.mark.parametrize("command", ["", *COMMANDS])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_help_renders_with_examples(run_cli: RunCli, command: str, flag: str) -> None:
    code, out, err = run_cli(*([command] if command else []), flag)
    assert (code, err) == (0, "")
    assert out.startswith("Usage: ")
    assert "Examples:" in out
    assert "<str>" not in out and "<int>" not in out and "<float>" not in out
    assert "<path>" not in out
    assert "a file or -" not in out


def test_help_names_the_allowed_values(run_cli: RunCli) -> None:
    out = " ".join(run_cli("diff", "-h")[1].split())
    for metavar in ("text|json|csv|md|cidr", "fix|reject", "honoured|published", "FORMAT"):
        assert metavar in out
    assert "file+FORMAT:PATH" in out and "spf:DOMAIN" in out
    out = " ".join(run_cli("fetch", "-h")[1].split())
    assert "cidr|json|csv" in out and "all|4|6" in out and "--lenient" in out
    out = " ".join(run_cli("explain", "-h")[1].split())
    assert "--quiet" in out and "-q" in out


@pytest.mark.parametrize("command", ["diff", "fetch", "explain", "rules", "spf", "providers"])
def test_debug_after_the_command(run_cli: RunCli, command: str) -> None:
    args = {
        "diff": ("-e", "nope.txt", "-d", "nope.txt", "--service", "tcp/0"),
        "fetch": ("nope.txt", "--family", "5"),
        "explain": ("192.0.2.300", "-d", "nope.txt"),
        "rules": ("nope", "-"),
        "spf": ("example.com", "-o", "xml"),
        "providers": ("nope",),
    }[command]
    code, _, err = run_cli(command, *args, "--debug")
    assert code == 2 and "Traceback" in err


def test_shell_completion_is_offered(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--help")
    assert "--install-completion" in out and "--show-completion" in out


def test_completion_completes_formats() -> None:
    env = dict(os.environ, _AUDITOR_COMPLETE="complete_bash", COMP_CWORD="3")
    env["COMP_WORDS"] = "auditor diff --format postfix-m"
    proc = subprocess.run(
        [sys.executable, "-m", "auditor"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.stdout.split() == ["postfix-main-cf", "postfix-mynetworks"]


def test_quiet_explain_keeps_the_exit_code(run_cli: RunCli, write: WriteFile) -> None:
    write("allow.txt", "192.0.2.0/24\n")
    assert run_cli("explain", "192.0.2.7", "-d", "allow.txt", "-q") == (0, "", "")
    assert run_cli("explain", "198.51.100.7", "-d", "allow.txt", "-q") == (1, "", "")


def test_fetch_takes_lenient(run_cli: RunCli, write: WriteFile) -> None:
    write("paste.txt", "Allowed: 192.0.2.0/24 (relay)\n")
    code, out, _ = run_cli("fetch", "paste.txt")
    assert code == 2 and out == ""
    code, out, err = run_cli("fetch", "paste.txt", "--lenient")
    assert (code, out) == (0, "192.0.2.0/24\n"), err


@pytest.mark.parametrize("name", ["Github", "GITHUB", "github"])
def test_provider_names_in_any_case(run_cli: RunCli, name: str) -> None:
    code, out, _ = run_cli("providers", name)
    assert code == 0 and "name:        github" in out


def test_fetch_accepts_a_provider_in_any_case(run_cli: RunCli, write: WriteFile) -> None:
    item = {"ip_prefix": "192.0.2.0/25", "region": "eu-west-1", "service": "EC2",
            "network_border_group": "eu-west-1"}  # fmt: skip
    doc = {"syncToken": "1", "createDate": "2024-01-01-00-00-00", "prefixes": [item],
           "ipv6_prefixes": []}  # fmt: skip
    import json

    feed = write("ranges.json", json.dumps(doc))
    for spec in (f"AWS:from={feed},service=EC2", f"aws:from={feed},service=EC2"):
        code, out, err = run_cli("fetch", spec)
        assert (code, out) == (0, "192.0.2.0/25\n"), err


@pytest.mark.parametrize(
    ("alias", "service"),
    [
        ("smtp", "tcp/25"),
        ("submission", "tcp/587"),
        ("smtps", "tcp/465"),
        ("https", "tcp/443"),
        ("SMTP,Submission", "tcp/25,587"),
    ],
)
def test_service_names(run_cli: RunCli, write: WriteFile, alias: str, service: str) -> None:
    write("allow.txt", "192.0.2.0/24\n")
    code, out, _ = run_cli("explain", "192.0.2.7", "-d", "allow.txt", "--service", alias)
    assert code == 0 and f"192.0.2.7 ({service})" in out


def test_rules_nft_is_nftables(run_cli: RunCli) -> None:
    a = run_cli("rules", "nft", "-", input="192.0.2.0/24\n")
    b = run_cli("rules", "nftables", "-", input="192.0.2.0/24\n")
    assert a.code == 0 and a == b
    code, out, _ = run_cli("diff", "-e", "-", "-d", "nope.txt", "-r", "NFT", input="192.0.2.0/24\n")
    assert code == 2 and "unknown rule platform" not in out


def test_formats_are_aligned(run_cli: RunCli) -> None:
    code, out, _ = run_cli("formats")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("  ") and "aliases:" not in line]
    starts = {len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in rows}
    assert len(starts) == 1, out  # every description starts in the same column
    assert "aws-security-group  AWS" in out


def test_help_imports_only_what_it_uses() -> None:
    """`auditor --help` and `-h` stay fast: no reader, report, rule generator, network or
    numeric module is imported (shell completion included)."""
    heavy = ("auditor.allowlists", "auditor.reports", "auditor.rules", "auditor.sources",
             "requests", "numpy", "yaml", "rich", "netaddr")  # fmt: skip
    for args in (["--help"], ["diff", "-h"], ["formats", "-h"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "auditor", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0
        loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert not {m for m in loaded if m.startswith(heavy)}, args


def test_local_diff_imports_no_network_or_dns_module(write: WriteFile) -> None:
    """A diff of local files builds its network and DNS options, but never imports HTTP or
    DNS code: requests alone costs more than the rest of a small run's start-up."""
    heavy = ("requests", "urllib3", "dns", "auditor.net.", "auditor.spf.")
    light = {"auditor.net.options", "auditor.spf.options"}
    expected = write("expected.txt", "192.0.2.0/24\n198.51.100.0/24\n")
    declared = write("declared.txt", "192.0.2.0/24\n")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "auditor", "diff", "-e", str(expected),
         "-d", str(declared)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert {m for m in loaded if m.startswith(heavy)} - light == set()
