"""The case the tool is for, end to end, against a real kernel: a mail server behind an
iptables host firewall that lets in only some of ServiceNow's relays.

A network namespace holds the mail server (tests/smtp_relayd.py run as a program) and one
address of each relay range on its loopback; its firewall allows tcp/25 from two of the three
ranges. ``auditor probe smtp`` shows the symptom (a timeout from the dropped range),
``auditor diff`` on the exported ruleset names the range and the SPF record it comes from, the
rules it writes are loaded with ``iptables-restore --noflush``, and then the probe gets through
and the diff is clean. The SPF records are served by the local DNS server (tests/dnsd.py) with
documentation ranges standing in for ServiceNow's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import RunCli
from dnsd import DnsServer

ROOT = Path(__file__).resolve().parents[1]
REPORT_SCHEMA = json.loads((ROOT / "data" / "report.schema.json").read_text())

ZONE: dict[Any, list[tuple[str, Any]]] = {
    "b.spf.service-now.com": [("TXT", "v=spf1 ip4:192.0.2.64/27 -all")],
    "c.spf.service-now.com": [("TXT", "v=spf1 include:c1.spf.service-now.com -all")],
    "c1.spf.service-now.com": [("TXT", "v=spf1 ip4:198.51.100.0/27 -all")],
    "d.spf.service-now.com": [("TXT", "v=spf1 ip4:203.0.113.64/27 ip6:2001:db8:5e::/48 -all")],
}

SERVER = "203.0.113.25"
# one address in each relay range; the firewall lets in the first and the last
ALLOWED_B, DROPPED_C, ALLOWED_D = "192.0.2.70", "198.51.100.10", "203.0.113.70"

# the mail server's firewall: tcp/25 from the b and d ranges, nothing from c
RULES4 = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s 192.0.2.64/27 -p tcp -m tcp --dport 25 -j ACCEPT
-A INPUT -s 203.0.113.64/27 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""
RULES6 = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s 2001:db8:5e::/48 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "a network namespace with an iptables ruleset needs root"
    tools = ("ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save")
    missing = [t for t in tools if shutil.which(t) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


class Namespace:
    """A network namespace: commands run in it, and the SMTP server it holds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}

    def run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def check(self, *argv: str, stdin: str | None = None) -> str:
        done = self.run(*argv, stdin=stdin)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
        return done.stdout

    def probe(self, source: str) -> tuple[int, dict[str, Any]]:
        """``auditor probe smtp`` from ``source`` to the server, inside the namespace."""
        done = self.run(
            *(sys.executable, "-m", "auditor", "probe", "smtp", f"{SERVER}:25"),
            *("--source", source, "-o", "json", "--timeout", "1.5"),
        )
        [probe] = json.loads(done.stdout)["probes"]
        return done.returncode, probe

    def export(self, into: Path) -> list[str]:
        """Both families' rulesets as iptables-save writes them, as a server's admin would."""
        names = []
        for tool, name in (("iptables-save", "iptables.rules"), ("ip6tables-save", "ip6.rules")):
            (into / name).write_text(self.check(tool))
            names.append(name)
        return names


@contextlib.contextmanager
def mail_server_namespace(name: str, load: Callable[[Namespace], None]) -> Iterator[Namespace]:
    """A namespace with the server's and each relay range's address on its loopback, its
    firewall loaded by ``load``, and the SMTP server listening inside; removed afterwards."""
    ns = Namespace(name)
    subprocess.run(["ip", "netns", "add", ns.name], check=True, timeout=60)
    server: subprocess.Popen[str] | None = None
    try:
        ns.check("ip", "link", "set", "lo", "up")
        for address in (f"{SERVER}/32", ALLOWED_B, DROPPED_C, ALLOWED_D):
            ns.check("ip", "address", "add", address, "dev", "lo")
        load(ns)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, sys.executable, str(ROOT / "tests" / "smtp_relayd.py")]
            + [f"{SERVER}:25"],
            stdout=subprocess.PIPE,
            text=True,
            env=ns.env,
        )
        assert server.stdout is not None
        # the line comes once the socket listens (or never: then the server died)
        assert server.stdout.readline() == f"listening {SERVER}:25\n"
        yield ns
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if server.stdout is not None:
                server.stdout.close()
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=60)


def _load_iptables(ns: Namespace) -> None:
    ns.check("iptables-restore", stdin=RULES4)
    ns.check("ip6tables-restore", stdin=RULES6)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    reason = _netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with mail_server_namespace(f"audseed{os.getpid()}", _load_iptables) as ns:
        yield ns


def diff(run_cli: RunCli, nameserver: str, exports: list[str]) -> tuple[int, dict[str, Any]]:
    declared = [arg for name in exports for arg in ("-d", name)]
    code, out, err = run_cli(
        *("diff", "-e", "servicenow", "--nameserver", nameserver, *declared),
        *("-r", "iptables", "-o", "json"),
    )
    assert code in (0, 1), err
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return code, report


def restore_section(text: str, family: int) -> tuple[str, list[str]] | None:
    """The iptables-restore file of a family in rules output (the text under its banner, up to
    the next banner), and its rule lines; None when there is none."""
    banner = f"# ===== IPv{family}: file for ip{'6' if family == 6 else ''}tables-restore --noflush"
    if banner not in text:
        return None
    section = text.split(banner, 1)[1].split("\n", 1)[1].split("# =====", 1)[0]
    return section, [line for line in section.splitlines() if line.startswith("-")]


def test_a_relay_range_the_firewall_drops_is_found_fixed_and_gets_through(
    run_cli: RunCli, dns_server: DnsServer, netns: Namespace, tmp_path: Path
) -> None:
    dns_server.zone.update(ZONE)
    nameserver = f"127.0.0.1:{dns_server.port}"

    # the symptom: the relays of c.spf time out, those of b.spf and d.spf get through
    code, probe = netns.probe(DROPPED_C)
    assert (code, probe["outcome"]) == (1, "timeout"), probe
    assert [s["step"] for s in probe["steps"]] == ["connect"]
    for source in (ALLOWED_B, ALLOWED_D):
        code, probe = netns.probe(source)
        assert (code, probe["outcome"], probe["local_address"]) == (0, "ok", source), probe

    # the cause: the exported rulesets miss exactly c.spf's range
    exports = netns.export(tmp_path)
    code, report = diff(run_cli, nameserver, exports)
    assert code == 1
    assert [m["cidr"] for m in report["missing"]] == ["198.51.100.0/27"]
    [missing] = report["missing"]
    assert missing["cidr"] == "198.51.100.0/27"
    [origin] = missing["origins"]
    assert (origin["source"], origin["path"]) == (
        "servicenow",
        "c.spf.service-now.com > include:c1.spf.service-now.com > ip4:198.51.100.0/27",
    )
    assert report["partial"] == report["over_broad"] == report["findings"] == []
    assert report["verdict"]["status"] == "drift"
    # the rules of the diff itself allow that range, and only it
    [rules] = report["rules"]
    assert restore_section(rules["text"], 4)[1] == [
        "-I INPUT -s 198.51.100.0/27 -p tcp -m tcp --dport 25 -m comment --comment"
        ' "allowlist-auditor servicenow (c.spf.service-now.com _ include:c1.spf.service-now.com'
        ' _ ip4:198.51.100.0/27)" -j ACCEPT'
    ]
    assert restore_section(rules["text"], 6) is None

    # the fix: rules from the saved report, written to a file that loads as its header says
    # (one family, restore lines only), loaded into the running firewall
    (tmp_path / "report.json").write_text(json.dumps(report))
    argv = ["rules", "iptables", "report.json", "--family", "4", "--output-file", "allow.rules"]
    code, out, err = run_cli(*argv)
    assert code == 0, err
    allow = tmp_path / "allow.rules"
    text = allow.read_text()
    assert "Load with: iptables-restore --noflush FILE" in text
    lines = [line for line in text.splitlines() if line.startswith("-I ")]
    assert lines == [
        "-I INPUT -s 198.51.100.0/27 -p tcp -m tcp --dport 25 -m comment --comment"
        ' "allowlist-auditor report.json (from servicenow (c.spf.service-now.com _'
        ' include:c1.spf.service-now.com _ ip4:198.51.100.0/27))" -j ACCEPT'
    ]
    netns.check("iptables-restore", "--test", "--noflush", str(allow))
    netns.check("iptables-restore", "--noflush", str(allow))

    # the relays of c.spf get through now, the others still do
    for source in (DROPPED_C, ALLOWED_B, ALLOWED_D):
        code, probe = netns.probe(source)
        assert (code, probe["outcome"], probe["local_address"]) == (0, "ok", source), probe

    # and the exported rulesets are in sync with the records: nothing missing, exit 0
    exports = netns.export(tmp_path)
    assert "-A INPUT -s 198.51.100.0/27" in (tmp_path / exports[0]).read_text()
    code, report = diff(run_cli, nameserver, exports)
    assert code == 0
    assert report["missing"] == []
    assert [r["text"] for r in report["rules"]] == [
        "# allowlist-auditor: nothing is missing; there are no iptables rules to add.\n"
    ]
    assert report["verdict"]["status"] == "in-sync"
