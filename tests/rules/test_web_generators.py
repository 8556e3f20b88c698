"""nginx, Apache and HAProxy rules: the snippets pasted into real configurations that the
real programs check (nginx -t, apache2 -t, haproxy -c), read back by the readers (diff exits
0), and removed again by the rollback scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.rules import RuleOptions, generator_for
from auditor.rules.artifacts import write_dir
from auditor.service import Service

from .helpers import HOSTILE_SOURCES, block, small_blocks
from .mail_helpers import EXPECTED, calls, diff, require, run_script, stand_in

NGINX = """events {}
http {
    server {
        listen 127.0.0.1:8088;
        location / {
            allow 203.0.113.0/24;
            deny all;
        }
    }
}
"""

APACHE = """ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:8089
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
ErrorLog {root}/error.log
PidFile {root}/httpd.pid
<Location "/">
    Require ip 203.0.113.0/24
</Location>
"""

HAPROXY = """defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend smtp
    bind 127.0.0.1:2525
    tcp-request connection reject
    default_backend mx
backend mx
    server mx1 127.0.0.1:25
"""


def _nginx_ok(conf: Path) -> None:
    require("nginx")
    run = subprocess.run(
        [
            "nginx",
            "-t",
            "-c",
            str(conf),
            "-p",
            str(conf.parent),
            "-g",
            f"pid {conf.parent}/n.pid; error_log {conf.parent}/n.log;",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


def _apache_ok(conf: Path) -> None:
    binary = require("apache2")
    run = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _haproxy_ok(conf: Path) -> None:
    require("haproxy")
    run = subprocess.run(["haproxy", "-c", "-f", str(conf)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _paste(conf: Path, before: str, snippet: Path) -> None:
    """The lines from the begin marker to the end marker, pasted before ``before``."""
    lines = snippet.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.strip().endswith(" begin"))
    last = next(i for i, line in enumerate(lines) if line.strip().endswith(" end"))
    text = conf.read_text()
    assert before in text
    conf.write_text(text.replace(before, "".join(lines[first : last + 1]) + before, 1))


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text(EXPECTED)
    return path


def test_nginx_checked_roundtrip_rollback(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(conf)]
    assert diff(*argv, "--rules", "auto", "--output-dir", str(out)) == 1
    snippet = out / "nginx-all-apply.conf"
    assert f"{conf}:6" in snippet.read_text()  # where the allow lines are today
    _paste(conf, "            deny all;", snippet)
    _nginx_ok(conf)
    assert diff(*argv) == 0
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "nginx")
    run_script(out / "nginx-all-rollback.sh", bin_dir, str(conf))
    assert conf.read_text() == NGINX
    assert calls(log) == [["-t"], ["-s", "reload"]]


def test_apache_checked_roundtrip_rollback(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "httpd.conf"
    original = APACHE.format(root=tmp_path)
    conf.write_text(original)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", f"file+apache:{conf}"]
    assert diff(*argv, "--rules", "auto", "--output-dir", str(out)) == 1
    _paste(conf, "</Location>", out / "apache-all-apply.conf")
    _apache_ok(conf)
    assert diff(*argv) == 0
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "apache2ctl")
    run_script(out / "apache-all-rollback.sh", bin_dir, str(conf))
    assert conf.read_text() == original
    assert calls(log) == [["-t"], ["graceful"]]


def _many(count: int) -> list:
    return [block(f"10.{i // 256}.{i % 256}.0/24") for i in range(count)] + [
        block(f"2001:db8:{i:x}::/48") for i in range(count // 2)
    ]


def test_apache_long_lists_are_chunked(tmp_path: Path) -> None:
    gen = generator_for("apache")
    opts = RuleOptions(service=Service.parse("tcp/25"))
    [apply, _] = write_dir(
        tmp_path, "apache", gen.checked_artifacts(_many(100), opts), opts.provenance
    )
    lines = [
        line.split()[2:]
        for line in apply.read_text().splitlines()
        if line.strip().startswith("Require ip")
    ]
    assert [len(x) for x in lines] == [32, 32, 32, 32, 22]
    conf = tmp_path / "httpd.conf"
    conf.write_text(APACHE.format(root=tmp_path))
    _paste(conf, "</Location>", apply)
    _apache_ok(conf)


def test_haproxy_checked_chunked_rollback(tmp_path: Path) -> None:
    gen = generator_for("haproxy")
    opts = RuleOptions(service=Service.parse("tcp/25"))
    paths = write_dir(tmp_path, "haproxy", gen.checked_artifacts(_many(130), opts), opts.provenance)
    apply, rollback = paths
    acls = [line.split() for line in apply.read_text().splitlines() if " src " in line]
    assert [len(a) - 3 for a in acls] == [60, 60, 60, 15]
    assert {a[1] for a in acls} == {"auditor_allow_tcp_25"}
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(HAPROXY)
    _paste(conf, "    tcp-request connection reject", apply)
    _haproxy_ok(conf)
    text = conf.read_text()
    assert text.index("connection accept if") < text.index("\n    tcp-request connection reject")
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "systemctl")
    run_script(rollback, bin_dir, str(conf))
    assert conf.read_text() == HAPROXY


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.one_of(st.text(min_size=1, max_size=80), st.sampled_from(HOSTILE_SOURCES)))
def test_haproxy_hostile_acl_names(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    gen = generator_for("haproxy")
    opts = RuleOptions(service=Service.parse("tcp/25"), scope=(name,))
    try:
        arts = gen.checked_artifacts(small_blocks(), opts)
    except UsageError:
        return
    tmp = tmp_path_factory.mktemp("h")
    [apply, _] = write_dir(tmp, "haproxy", arts, opts.provenance)
    conf = tmp / "haproxy.cfg"
    conf.write_text(HAPROXY)
    _paste(conf, "    tcp-request connection reject", apply)
    _haproxy_ok(conf)
    assert f"tcp-request connection accept if {name}\n" in conf.read_text()


def test_hostile_declared_file_name(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "a'b\"$(id);`x`%\u00e9\u202e.conf"
    conf.write_text(NGINX)
    out = tmp_path / "out"
    assert (
        diff(
            "-e",
            str(expected),
            "-d",
            f"file+nginx:{conf}",
            "--rules",
            "nginx",
            "--output-dir",
            str(out),
        )
        == 1
    )
    snippet = out / "nginx-all-apply.conf"
    assert all(line.startswith(("#", "allow ")) for line in snippet.read_text().splitlines())
    _paste(conf, "            deny all;", snippet)
    _nginx_ok(conf)
