"""``auditor probe smtp``: each way a connection ends, against real servers on 127.0.0.1
(tests/smtp_relayd.py), a port nobody listens on, and a firewall that drops (a network
namespace)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import RunCli
from smtp_relayd import Script, ca_bundle, smtp_server
from test_imports import NETWORK, imported, under

ROOT = Path(__file__).resolve().parents[1]


def probe_json(run_cli: RunCli, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code, out, err = run_cli("probe", "smtp", *args, "-o", "json", "--timeout", "5")
    doc = json.loads(out)
    assert doc["kind"] == "probe"
    return code, doc["probes"], err


def test_a_server_that_accepts_is_ok_and_sees_the_source_address(run_cli: RunCli) -> None:
    with smtp_server(Script()) as server:
        code, probes, _ = probe_json(
            run_cli,
            server.target,
            "--source",
            "127.0.0.2",
            "--mail-from",
            "relay@example.com",
            "--rcpt",
            "it@example.com",
            "--helo",
            "relay.example.com",
        )
    assert code == 0
    [p] = probes
    assert p["outcome"] == "ok"
    assert (p["source"], p["local_address"], p["address"]) == ("127.0.0.2", "127.0.0.2", HOST)
    assert server.peers == ["127.0.0.2"]
    # one step further than EHLO, but never a message: RSET and QUIT, no DATA
    assert server.commands == [
        "EHLO relay.example.com",
        "MAIL FROM:<relay@example.com>",
        "RCPT TO:<it@example.com>",
        "RSET",
        "QUIT",
    ]
    steps = [s["step"] for s in p["steps"]]
    assert steps == ["connect", "banner", "EHLO", "MAIL FROM", "RCPT TO", "RSET", "QUIT"]
    assert p["steps"][1]["reply"] == ["220 mx.test ESMTP ready"]
    assert all(s["seconds"] >= 0 for s in p["steps"]) and p["seconds"] > 0


HOST = "127.0.0.1"


@pytest.mark.parametrize(
    ("script", "outcome", "words"),
    [
        (Script(banner=None), "eof", "closed the connection before the banner"),
        (Script(close_after_banner=True), "eof", "the connection right after the banner"),
        (Script(banner="554 5.7.1 no SMTP service for you"), "rejected", "554 5.7.1 no SMTP"),
        (Script(banner="421 4.7.0 too many connections"), "tempfail", "421 4.7.0 too many"),
        (Script(replies={"EHLO": "550 5.7.1 bad helo"}), "rejected", "EHLO: 550 5.7.1 bad helo"),
        (Script(replies={"EHLO": "451 4.3.0 later"}), "tempfail", "EHLO: 451 4.3.0 later"),
        (
            Script(replies={"MAIL": "553 5.7.1 sender rejected"}),
            "rejected",
            "MAIL FROM: 553 5.7.1 sender rejected",
        ),
    ],
)
def test_each_refusal_by_the_server_has_its_outcome_and_exit_1(
    run_cli: RunCli, script: Script, outcome: str, words: str
) -> None:
    with smtp_server(script) as server:
        code, probes, _ = probe_json(run_cli, server.target, "--mail-from", "a@example.com")
        text_code, text, _ = run_cli("probe", "smtp", server.target, "--mail-from", "a@example.com")
    assert code == text_code == 1
    [p] = probes
    assert p["outcome"] == outcome
    assert words in p["detail"]
    assert f"{outcome} (" in text and words in text
    # the server's words are kept with the step they answered
    if script.banner is not None and not script.close_after_banner:
        assert any(words.split(": ")[-1] in line for s in p["steps"] for line in s["reply"])
    assert "DATA" not in server.commands
    if "MAIL" in script.replies:
        assert not any(c.startswith("RCPT") for c in server.commands)


def test_a_port_nobody_listens_on_is_refused(run_cli: RunCli) -> None:
    with socket.socket() as unused:
        unused.bind((HOST, 0))  # bound, never listening: the kernel answers a SYN with RST
        port = unused.getsockname()[1]
        code, probes, _ = probe_json(run_cli, f"{HOST}:{port}")
    assert code == 1
    assert probes[0]["outcome"] == "refused"
    assert [s["step"] for s in probes[0]["steps"]] == ["connect"]


@pytest.fixture(scope="module")
def tls_leaf() -> Iterator[tuple[trustme.CA, trustme.LeafCert]]:
    ca = trustme.CA()
    yield ca, ca.issue_cert(HOST)


def test_starttls_with_a_certificate_the_client_does_not_trust_fails(
    run_cli: RunCli, tls_leaf: tuple[trustme.CA, trustme.LeafCert]
) -> None:
    ca, leaf = tls_leaf
    with smtp_server(Script(), tls=leaf) as server, ca_bundle(ca) as bundle:
        code, probes, _ = probe_json(run_cli, server.target, "--starttls")
        trusted, good, _ = probe_json(
            run_cli, server.target, "--starttls", "--ca-bundle", str(bundle)
        )
        insecure, unchecked, _ = probe_json(run_cli, server.target, "--starttls", "--insecure")
    assert code == 1
    assert probes[0]["outcome"] == "tls-failed"
    assert "certificate" in probes[0]["detail"] or "issuer" in probes[0]["detail"]
    assert (trusted, good[0]["outcome"]) == (0, "ok")
    assert good[0]["tls"].startswith("TLS")
    assert [s["step"] for s in good[0]["steps"]][-3:] == ["TLS", "EHLO", "QUIT"]
    assert (insecure, unchecked[0]["outcome"]) == (0, "ok")


def test_starttls_not_offered_fails(run_cli: RunCli) -> None:
    with smtp_server(Script()) as server:
        code, probes, _ = probe_json(run_cli, server.target, "--starttls")
    assert code == 1
    assert probes[0]["outcome"] == "tls-failed"
    assert "does not offer STARTTLS" in probes[0]["detail"]


def test_a_name_that_does_not_resolve_or_a_local_address_not_here_is_exit_2(
    run_cli: RunCli,
) -> None:
    code, probes, _ = probe_json(run_cli, "nosuch.invalid")
    assert code == 2
    assert probes[0]["outcome"] == "dns-failed"
    with smtp_server(Script()) as server:
        # one probe from an address of this host, one from an address it does not have
        code, probes, _ = probe_json(
            run_cli, server.target, "--source", "127.0.0.2", "--source", "192.0.2.1"
        )
    assert code == 2
    assert [p["outcome"] for p in probes] == ["ok", "bind-failed"]
    assert server.peers == ["127.0.0.2"]


@pytest.mark.parametrize(
    "args",
    [
        ["smtp", "127.0.0.1:99999"],
        ["smtp", "[::1"],
        ["http", "127.0.0.1"],
        ["smtp", "127.0.0.1", "--timeout", "0"],
        ["smtp", "127.0.0.1", "--rcpt", "<x@example.com>"],
    ],
)
def test_bad_usage_is_exit_2_with_a_hint(run_cli: RunCli, args: list[str]) -> None:
    code, out, err = run_cli("probe", *args)
    assert code == 2
    assert out == ""
    assert "error:" in err and "(" in err


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "a network namespace with a DROP rule needs root"
    missing = [t for t in ("ip", "iptables") if shutil.which(t) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def test_a_server_that_accepts_and_says_nothing_is_a_timeout(run_cli: RunCli) -> None:
    with smtp_server(Script(silent=True)) as server:
        code, out, _ = run_cli("probe", "smtp", server.target, "-o", "json", "--timeout", "0.5")
    assert code == 1
    [p] = json.loads(out)["probes"]
    assert p["outcome"] == "timeout"
    assert p["detail"] == "connected, but no banner in time"
    assert [s["step"] for s in p["steps"]] == ["connect", "banner"]


@pytest.mark.parametrize(
    ("rule", "outcome"),
    [
        (["-j", "DROP"], "timeout"),
        (["-j", "REJECT", "--reject-with", "tcp-reset"], "refused"),
        (["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"], "unreachable"),
    ],
)
def test_what_a_firewall_does_to_the_syn_is_told_apart(rule: list[str], outcome: str) -> None:
    reason = _netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    ns = f"audprobe{os.getpid()}"
    run = [sys.executable, "-m", "auditor", "probe", "smtp", "127.0.0.1:2525", "-o", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=60)
    try:
        for argv in (
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp"]
            + ["--dport", "2525", *rule],
        ):
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *run, "--timeout", "1.5"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr
    [p] = json.loads(done.stdout)["probes"]
    assert p["outcome"] == outcome
    assert [s["step"] for s in p["steps"]] == ["connect"]
    if outcome == "timeout":
        assert 1.4 <= p["seconds"] < 10
    else:
        assert p["seconds"] < 1


def test_a_probe_imports_no_http_dns_or_catalog(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind((HOST, 0))
        port = unused.getsockname()[1]
        code, modules = imported("probe", "smtp", f"{HOST}:{port}", cwd=tmp_path)
    assert code == 1
    assert "auditor.net.smtp_probe" in modules
    assert under(modules, NETWORK) == ["auditor.net", "auditor.net.smtp_probe"]
    assert under(modules, ("auditor.sources", "auditor.allowlists", "yaml", "numpy")) == []
