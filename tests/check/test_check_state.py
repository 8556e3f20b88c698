"""State and drift (``auditor check --state-dir``): two runs around a change in a served feed
and in a declared file report exactly that change with dates; an unchanged run is silent with
--quiet-unless-changed; ``auditor history`` lists the changes run by run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditor.check.state import StateDir

from .helpers import ALLOW_V1, FEED_V1, serve, write_config

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _run_at(state: Path) -> str:
    return str(json.loads((state / "mail.state.json").read_text())["run_at"])


def test_two_runs_report_exactly_the_change(tmp_path: Path, https_server, run_cli, monkeypatch):
    folder = tmp_path / "etc"
    path = write_config(folder, https_server)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")  # 2027-01-01T00:00:00Z
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 1, err
    assert out == (
        f"mail: drift: 2 missing CIDR(s), 1 extra (exit 1)\n  first run: state kept in {state}\n"
    )
    first = _run_at(state)
    assert first == "2027-01-01T00:00:00Z"

    # the provider moves its IPv6 /48 and adds 203.0.113.0/28; the allowlist gets
    # 198.51.100.16/28 (now nothing of 198.51.100.0/27 is missing) and loses 203.0.113.7
    serve(https_server, FEED_V1.replace(b"1::/48\n", b"2::/48\n203.0.113.0/28\n"))
    (folder / "allow.yaml").write_text(
        ALLOW_V1.replace("  - 203.0.113.7\n", "  - 198.51.100.16/28\n")
    )
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798848000")  # a day later
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 1, err
    url = https_server.url("/feed.txt")
    allow = folder / "allow.yaml"
    second = "2027-01-02T00:00:00Z"
    assert out.splitlines() == [
        "mail: drift: 2 missing CIDR(s), 0 extra (exit 1)",
        f"  since {first}:",
        f"    newly missing 203.0.113.0/28 (first seen {second}; from text:{url}:5)",
        f"    newly missing 2001:db8:2::/48 (first seen {second}; from text:{url}:4)",
        f"    resolved 198.51.100.16/28 (missing since {first})",
        f"    resolved 2001:db8:1::/48 (missing since {first})",
        f"    provider range added 203.0.113.0/28 in text:{url} (first seen {second})",
        f"    provider range added 2001:db8:2::/48 in text:{url} (first seen {second})",
        f"    provider range removed 2001:db8:1::/48 from text:{url} (first seen {first})",
        f"    declared entry added 198.51.100.16/28 in {allow} (first seen {second})",
        f"    declared entry removed 203.0.113.7/32 from {allow} (first seen {first})",
    ]

    # unchanged: silent with --quiet-unless-changed, the same exit code
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798934400")
    code, out, err = run_cli(
        "check", str(path), "--state-dir", str(state), "--quiet-unless-changed"
    )
    assert (code, out) == (1, ""), err
    code, out, _ = run_cli("check", str(path), "--state-dir", str(state))
    assert out.splitlines()[1] == "  no change since 2027-01-03T00:00:00Z"

    # history, run by run
    code, out, err = run_cli("history", "mail", "--state-dir", str(state))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{first} exit 1: first run"
    assert lines[1] == f"{second} exit 1: 9 change(s) since {first}"
    assert lines[2] == f"  newly missing 203.0.113.0/28 (first seen {second}; from text:{url}:5)"
    assert lines[11:] == [
        "2027-01-03T00:00:00Z exit 1: no change",
        "2027-01-03T00:00:00Z exit 1: no change",
    ]
    code, out, _ = run_cli("history", "mail", "--state-dir", str(state), "-o", "json")
    doc = json.loads(out)
    assert [r["run_at"] for r in doc["runs"]][:2] == [first, second]
    code, _, err = run_cli("history", "nope", "--state-dir", str(state))
    assert code == 2 and "audits with a history: mail" in err


def test_a_run_that_is_not_complete_keeps_the_state(tmp_path: Path, https_server, run_cli):
    path = write_config(tmp_path / "etc", https_server)
    state = tmp_path / "state"
    state.mkdir()
    assert run_cli("check", str(path), "--state-dir", str(state)).code == 1
    before = (state / "mail.state.json").read_bytes()
    (tmp_path / "etc" / "allow.yaml").write_text("examplecloud:\n  - not an address\n")
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 2
    assert re.search(rf"  the state of {STAMP} is kept \(this run was not complete\)", out)
    assert (state / "mail.state.json").read_bytes() == before
    runs = StateDir(state).history("mail")
    assert [r["exit_code"] for r in runs] == [1, 2]
    assert "allow.yaml is" in runs[1]["error"]
    # not silent: the exit code changed since the last complete run
    code, out, _ = run_cli("check", str(path), "--state-dir", str(state), "--quiet-unless-changed")
    assert code == 2 and out.startswith("mail: incomplete")


def test_a_history_line_cut_short_spoils_only_itself(tmp_path: Path) -> None:
    folder = StateDir(tmp_path)
    folder.append("a", {"run_at": "1", "since": None, "exit_code": 0})
    with folder.history_file("a").open("ab") as fh:
        fh.write(b'{"run_at": "2", "si')  # a crash in the middle of a write
    folder.append("a", {"run_at": "3", "since": "1", "exit_code": 0})
    assert [r["run_at"] for r in folder.history("a")] == ["1", "3"]


def test_the_html_report_shows_the_drift_since_the_last_run(
    tmp_path: Path, https_server, run_cli, monkeypatch
) -> None:
    html5lib = pytest.importorskip("html5lib")
    folder = tmp_path / "etc"
    path = write_config(folder, https_server)
    text = path.read_text().replace("cidr: reports/mail.cidr}", "html: reports/mail.html}")
    path.write_text(text)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")
    code, _, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 1, err
    page = (folder / "reports" / "mail.html").read_text()
    assert "first run" in page.lower()

    serve(https_server, FEED_V1.replace(b"1::/48\n", b"1::/48\n203.0.113.0/28\n"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798848000")
    code, _, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 1, err
    page = (folder / "reports" / "mail.html").read_text()
    doc = html5lib.parse(page, namespaceHTMLElements=False)
    section = doc.find(".//section[@id='drift']")
    assert section is not None
    rows = [tuple("".join(td.itertext()).strip() for td in tr) for tr in section.iter("tr")]
    said = " ".join("".join(section.itertext()).split())
    assert "Compared with the run started at 2027-01-01T00:00:00Z" in said
    # 203.0.113.7 is allowed (an extra until now): the rest of the new /28 is missing
    assert ("newly missing", "203.0.113.0/30", "", "2027-01-02T00:00:00Z") in rows, rows
    url = https_server.url("/feed.txt")
    added = ("provider range added", "203.0.113.0/28", f"text:{url}", "2027-01-02T00:00:00Z")
    assert added in rows, rows


def test_the_state_folder_may_come_from_the_environment(
    tmp_path: Path, https_server, run_cli, monkeypatch
) -> None:
    path = write_config(tmp_path / "etc", https_server)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("AUDITOR_STATE_DIR", str(state))
    code, out, err = run_cli("check", str(path))
    assert code == 1, err
    assert f"first run: state kept in {state}" in out
    code, out, err = run_cli("history", "mail")
    assert code == 0, err
    assert out.endswith(" exit 1: first run\n")

    monkeypatch.setenv("AUDITOR_STATE_DIR", str(tmp_path / "nowhere"))
    code, _, err = run_cli("history", "mail")
    assert code == 2
    assert "no state folder" in err and "AUDITOR_STATE_DIR" in err


def _local_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feed.txt").write_text("192.0.2.0/28\n")
    (folder / "allow.txt").write_text("192.0.2.0/28\n")
    path = folder / "audits.yaml"
    path.write_text(
        "audits:\n  mail:\n    expected: [feed.txt]\n    declared: [allow.txt]\n"
        "    outputs: {json: reports/mail.json}\n"
    )
    return path


@pytest.mark.parametrize(
    ("blocked", "said"),
    [("mail.history.jsonl", "cannot keep the state in"), ("mail.state.json", "cannot read")],
)
def test_a_state_that_cannot_be_kept_is_trouble(
    tmp_path: Path, run_cli, blocked: str, said: str
) -> None:
    path = _local_config(tmp_path / "etc")
    state = tmp_path / "state"
    state.mkdir()
    (state / blocked).mkdir()  # a folder where a file must be written: the write fails
    prom = tmp_path / "m.prom"
    code, out, err = run_cli(
        "check", str(path), "--state-dir", str(state), "--prometheus", str(prom)
    )
    assert code == 2, (out, err)
    assert said in err and str(state) in err
    assert "(exit 2)" in out
    assert 'auditor_audit_exit_code{audit="mail"} 2' in prom.read_text()
    code, out, _ = run_cli("check", str(path), "--state-dir", str(state), "-o", "nagios")
    assert code != 0 and not out.startswith("AUDITOR OK")


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["sources"][next(iter(doc["sources"]))].pop("sizes"),
        lambda doc: doc.update(run_at="yesterday"),
        lambda doc: doc.update(missing={"192.0.2.0/28": "2027-01-01T00:00:00Z"}),
        lambda doc: doc.update(declared={"allow.txt": ["192.0.2.0/28"]}),
    ],
)
def test_a_hand_edited_state_is_an_error_naming_it(tmp_path: Path, run_cli, edit) -> None:
    path = _local_config(tmp_path / "etc")
    state = tmp_path / "state"
    state.mkdir()
    assert run_cli("check", str(path), "--state-dir", str(state)).code == 0
    file = state / "mail.state.json"
    doc = json.loads(file.read_text())
    edit(doc)
    file.write_text(json.dumps(doc))
    prom = tmp_path / "m.prom"
    code, out, err = run_cli(
        "check", str(path), "--state-dir", str(state), "--prometheus", str(prom)
    )
    assert code == 2, (out, err)
    assert f"{file}: not a state file of this program" in err
    assert "internal error" not in err
    assert json.loads(file.read_text()) == doc  # kept for the user to look at
    assert 'auditor_audit_exit_code{audit="mail"} 2' in prom.read_text()
