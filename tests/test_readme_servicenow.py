"""The README's ServiceNow example, run as written against the bundled files in
data/examples/servicenow/, with the three SPF records served by the tests' DNS server from a
stand-in zone (documentation addresses): every line of the output the README shows must be in
the real output, in the same order, and the exit code must be the one it states."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from dnsd import DnsServer

ROOT = Path(__file__).resolve().parents[1]
HEADING = "### Example: ServiceNow's relays, a Postfix server behind iptables"

# the stand-in zone the README's output was made with (it says so)
ZONE = {
    "b.spf.service-now.com": [("TXT", "v=spf1 ip4:192.0.2.64/27 ip4:192.0.2.96/27 -all")],
    "c.spf.service-now.com": [("TXT", "v=spf1 include:c1.spf.service-now.com -all")],
    "c1.spf.service-now.com": [("TXT", "v=spf1 ip4:198.51.100.0/26 ip6:2001:db8:5e::/48 -all")],
    "d.spf.service-now.com": [("TXT", "v=spf1 ip4:203.0.113.0/27 -all")],
}


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in text, "the README lost its ServiceNow example"
    return text.split(HEADING, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def _run(args: list[str], ns: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args, "--nameserver", ns],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_servicenow_example_in_the_readme_is_true(dns_server: DnsServer) -> None:
    dns_server.zone.update(ZONE)
    ns = f"127.0.0.1:{dns_server.port}"
    section = _section()
    [command] = _blocks(section, "sh")[:1]
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:2] == ["auditor", "diff"]
    assert "-e" in argv and argv[argv.index("-e") + 1] == "servicenow"
    done = _run(argv[1:], ns)
    stated = re.search(r"exits (\d)", section)
    assert stated is not None
    assert done.returncode == int(stated.group(1)), done.stderr
    # every shown line is in the output, in order ("..." lines stand for lines left out)
    shown = [line for line in _blocks(section, "text")[0].splitlines() if line.strip() != "..."]
    out = done.stdout.splitlines()
    at = 0
    for line in shown:
        assert line in out[at:], f"not in the output (after line {at}): {line!r}\n{done.stdout}"
        at = out.index(line, at) + 1
    # the example's point: Postfix lets c.spf's range in, the firewall drops it
    assert "  198.51.100.0/26" in "\n".join(out)
