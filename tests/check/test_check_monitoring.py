"""``auditor check --prometheus FILE`` and ``--output nagios``: the monitoring outputs of every
audit of a scheduled run, with the feed on the local HTTPS server."""

from __future__ import annotations

from pathlib import Path

import pytest
from httpd import Reply

from .helpers import write_config

parser = pytest.importorskip("prometheus_client.parser")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_the_textfile_holds_every_audit_and_a_failed_one_keeps_its_last_success(
    tmp_path: Path, https_server, run_cli
) -> None:
    path = write_config(tmp_path / "etc", https_server, audits=2)
    state = tmp_path / "state"
    state.mkdir()
    prom = tmp_path / "auditor.prom"
    code, _, err = run_cli("check", str(path), "--state-dir", str(state), "--prometheus", str(prom))
    assert code == 1, err
    first = samples(prom.read_text())
    for audit in ("mail0", "mail1"):
        assert first["auditor_audit_exit_code", (("audit", audit),)] == 1
        assert first["auditor_missing_cidrs", (("audit", audit),)] == 2  # a /28 and the /48
        assert first["auditor_extra_cidrs", (("audit", audit),)] == 1  # 203.0.113.7
    success = first["auditor_last_success_timestamp_seconds", (("audit", "mail0"),)]

    https_server.route("/feed.txt", Reply(status=500))  # the feed fails: the audits fail
    code, _, err = run_cli("check", str(path), "--state-dir", str(state), "--prometheus", str(prom))
    assert code == 2
    second = samples(prom.read_text())
    assert second["auditor_audit_exit_code", (("audit", "mail0"),)] == 2
    assert second["auditor_audit_complete", (("audit", "mail0"),)] == 0
    # the last success is the first run's, kept in the state
    kept = second["auditor_last_success_timestamp_seconds", (("audit", "mail0"),)]
    assert success - 1 < kept <= success  # (the state keeps whole seconds)
    feed = [
        v
        for (name, labels), v in second.items()
        if name == "auditor_source_complete" and ("role", "expected") in labels
    ]
    assert feed == [0.0, 0.0]  # the failed feed, in each audit
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_nagios_line_and_exit_codes(tmp_path: Path, https_server, run_cli) -> None:
    path = write_config(tmp_path / "etc", https_server, audits=2)
    code, out, err = run_cli("check", str(path), "--output", "nagios")
    assert code == 2, err  # CRITICAL: something is missing
    line = out.splitlines()[0]
    assert line.startswith("AUDITOR CRITICAL - ")
    assert "'missing_cidrs'=4;;0;0;" in line.split("|", 1)[1]

    # everything allowed now; 203.0.113.7 stays an extra of the scope
    allow = "examplecloud:\n  - 192.0.2.0/28\n  - 198.51.100.0/27\n  - 2001:db8:1::/48\n"
    (tmp_path / "etc" / "allow.yaml").write_text(allow + "  - 203.0.113.7\n")
    code, out, err = run_cli("check", str(path), "--output", "nagios")
    assert code == 1, (out, err)  # WARNING: only the extra 203.0.113.7 in scope
    assert out.startswith("AUDITOR WARNING - ")

    https_server.route("/feed.txt", Reply(status=500))
    code, out, err = run_cli("check", str(path), "--output", "nagios")
    assert code == 3  # UNKNOWN: an audit could not see everything
    assert out.startswith("AUDITOR UNKNOWN - ")


def test_an_unknown_output_is_a_usage_error(tmp_path: Path, https_server, run_cli) -> None:
    path = write_config(tmp_path / "etc", https_server)
    code, _, err = run_cli("check", str(path), "--output", "html")
    assert code == 2
    assert "unknown --output 'html'" in err
