"""``auditor check``: each audit through the diff pipeline, outputs written atomically and
never replaced by an incomplete run, one AuditRun per audit, the worst exit code."""

from __future__ import annotations

import json
from pathlib import Path

from httpd import Reply

from auditor.check import config as cfg
from auditor.check import runner

from .helpers import ALLOW_V1, FEED_V1, serve, write_config


def test_outputs_are_written_and_a_failed_run_keeps_them(tmp_path: Path, https_server, run_cli):
    path = write_config(tmp_path / "etc", https_server)
    code, out, err = run_cli("check", str(path))
    assert code == 1, err  # 198.51.100.16/28 and the IPv6 /48 are missing
    assert out == "mail: drift: 2 missing CIDR(s), 1 extra (exit 1)\n"
    reports = tmp_path / "etc" / "reports"
    doc = json.loads((reports / "mail.json").read_text())
    assert doc["verdict"]["status"] == "drift"
    assert (reports / "mail.cidr").read_text() == "198.51.100.16/28\n2001:db8:1::/48\n"
    before = {p.name: p.read_bytes() for p in reports.iterdir()}

    https_server.route("/feed.txt", Reply(status=500))  # the feed fails: nothing cached is fresh
    code, out, err = run_cli("check", str(path))
    assert code == 2
    assert "not written" in err and "keeps its previous content" in err
    after = {p.name: p.read_bytes() for p in reports.iterdir() if not p.name.endswith(".failed")}
    assert after == before
    failed = sorted(p.name for p in reports.iterdir() if p.name.endswith(".failed"))
    assert failed == ["mail.cidr.failed", "mail.json.failed", "mail.md.failed"]
    assert (
        json.loads((reports / "mail.json.failed").read_text())["verdict"]["status"] == "incomplete"
    )

    serve(https_server, FEED_V1)  # back: the .failed files go, the reports are replaced
    code, _, err = run_cli("check", str(path))
    assert code == 1, err
    assert not [p for p in reports.iterdir() if p.name.endswith(".failed")]


def test_exit_code_is_the_worst_and_each_audit_has_its_run(tmp_path: Path, https_server):
    folder = tmp_path / "etc"
    path = write_config(
        folder,
        https_server,
        extra=(
            "  good:\n    expected: [nodes.txt]\n    declared: [nodes.txt]\n"
            "  broken:\n    expected: [nodes.txt]\n    declared: [bad.txt]\n"
        ),
    )
    (folder / "nodes.txt").write_text("192.0.2.1\n")
    (folder / "bad.txt").write_text("not an address\n")
    finished = runner.run(cfg.load(path), runner.Settings(quiet=True))
    runs = {f.run.name: f.run for f in finished}
    assert list(runs) == ["mail", "good", "broken"]
    assert [runs[n].exit_code for n in runs] == [1, 0, 2]
    assert runs["good"].result is not None and runs["good"].result.complete
    assert "bad.txt is failed" in runs["broken"].error
    assert runner.worst([r.exit_code for r in runs.values()]) == 2


def test_a_url_shared_by_audits_is_fetched_once(tmp_path: Path, https_server, run_cli):
    path = write_config(tmp_path / "etc", https_server, audits=4)
    code, out, err = run_cli("check", str(path))
    assert code == 1, err
    assert len(out.splitlines()) == 4
    assert [r.path for r in https_server.requests] == ["/feed.txt"]


def test_rules_are_written_next_to_the_reports(tmp_path: Path, https_server, run_cli):
    path = write_config(tmp_path / "etc", https_server)
    path.write_text(path.read_text().replace("    scope:", "    rules: [iptables]\n    scope:"))
    code, _, err = run_cli("check", "-q", str(path))
    assert code == 1, err
    rules = (tmp_path / "etc" / "reports" / "mail.rules").read_text()
    assert "198.51.100.16/28" in rules and "# iptables" in rules
    assert ALLOW_V1  # the declared file is left alone


def test_a_url_password_is_in_no_report_state_or_textfile(tmp_path: Path, https_server, run_cli):
    path = write_config(tmp_path / "etc", https_server)
    text = path.read_text().replace("https://", "https://reader:s3cret@")
    path.write_text(text.replace("}", ", html: reports/mail.html}"))
    state = tmp_path / "state"
    state.mkdir()
    prom = tmp_path / "mail.prom"
    code, out, err = run_cli(
        "check", str(path), "--state-dir", str(state), "--prometheus", str(prom)
    )
    assert code == 1, err
    written = [prom, *state.iterdir(), *(tmp_path / "etc" / "reports").iterdir()]
    assert len(written) >= 7
    for file in written:
        assert "s3cret" not in file.read_text(), file
    assert "s3cret" not in out
    assert "reader:***@" not in out  # the text line names no source
    assert "https://***@" in (tmp_path / "etc" / "reports" / "mail.json").read_text()
    code, out, _ = run_cli("check", str(path), "-o", "nagios")
    assert "s3cret" not in out


def test_a_url_password_never_reaches_stderr(tmp_path: Path, https_server, run_cli):
    # a failing feed is named in the error lines cron mails: its password is elided there too
    path = write_config(tmp_path / "etc", https_server)
    path.write_text(path.read_text().replace("https://", "https://reader:s3cret@"))
    https_server.route("/feed.txt", Reply(status=500))
    code, _, err = run_cli("check", str(path))
    assert code == 2
    assert "feed.txt" in err  # the source is named
    assert "s3cret" not in err
    url = https_server.url("/feed.txt").replace("https://", "https://reader:s3cret@")
    code, _, err = run_cli("diff", "-e", f"text:{url}", "-d", str(tmp_path / "etc" / "allow.yaml"))
    assert code == 2
    assert "feed.txt" in err and "s3cret" not in err
