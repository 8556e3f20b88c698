"""The core's verdicts on inputs that must never pass as "in sync"."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_whole_space_is_over_broad_whatever_the_limit(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n2001:db8::1\n")
    dec = write(tmp_path, "d.txt", "0.0.0.0/0\n::/0\n")
    code, out, _ = run(
        "diff", "-e", exp, "-d", dec, "--over-broad-v4", "0", "--over-broad-v6", "0", "-o", "json"
    )
    assert code == 1
    assert out.count("allows every IPv") == 2


def test_adjacent_entries_that_together_allow_everything_are_over_broad(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    dec = write(tmp_path, "d.txt", "".join(f"{i}.0.0.0/8\n" for i in range(256)))
    code, out, _ = run("diff", "-e", exp, "-d", dec, "-o", "text")
    assert code == 1
    assert "entries together allow 0.0.0.0/0" in out


def test_an_expected_whole_space_is_trouble_and_gives_no_rules(tmp_path: Path) -> None:
    exp = write(tmp_path, "feed.txt", "0.0.0.0/0\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    code, out, err = run("diff", "-e", exp, "-d", dec, "-r", "iptables", "-o", "md")
    assert code == 2
    assert "-j ACCEPT" not in out
    assert "feed.txt:1" in err and "every IPv4 address" in err
    code, out, err = run("rules", "iptables", exp)
    assert code == 2
    assert out == ""
    assert "refusing to write a rule that allows 0.0.0.0/0" in err


def test_rules_from_an_incomplete_report_are_refused(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n192.0.2.999\n198.51.100.7\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    report = tmp_path / "r.json"
    code, doc, _ = run("diff", "-e", exp, "-d", dec, "-o", "json")
    assert code == 2
    report.write_text(doc)  # an incomplete run's report, saved from stdout
    code, out, err = run("rules", "iptables", str(report))
    assert code == 2
    assert out == ""
    assert "incomplete" in err


def test_rules_made_in_a_run_with_a_failed_source_carry_a_warning(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    dec = write(tmp_path, "d.yaml", "a: !!python/object/apply:os.system ['true']\n")
    code, out, _ = run("diff", "-e", exp, "-d", dec, "-r", "iptables", "-o", "text")
    assert code == 2
    assert "# WARNING: made from incomplete inputs" in out


def test_a_dotted_line_at_full_width_in_a_big_file_is_a_line_error(tmp_path: Path) -> None:
    # 18 characters ending in '.', in a file big enough for the vectorised parser
    body = "12345678901234.5..\n" + "".join(f"10.{i // 256}.{i % 256}.0/24\n" for i in range(6000))
    exp = write(tmp_path, "e.txt", body)
    dec = write(tmp_path, "d.txt", "10.0.0.0/8\n")
    code, _, err = run("diff", "-e", exp, "-d", dec, "-o", "cidr")
    assert code == 2
    assert "e.txt:1: '12345678901234.5..' is not an IPv4 address" in err
    assert "internal error" not in err


def test_control_characters_in_a_file_name_are_escaped_on_stderr(tmp_path: Path) -> None:
    name = write(tmp_path, "x\x1b]0;pwned\x07.txt", "not an address\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    code, _, err = run("diff", "-e", name, "-d", dec)
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;pwned\\x07" in err


def test_an_unwritable_output_file_is_a_clear_error(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    code, _, err = run(
        "diff", "-e", exp, "-d", exp, "--output-file", str(tmp_path / "no" / "such" / "r.txt")
    )
    assert code == 2
    assert "cannot write the report" in err
    assert "internal error" not in err
