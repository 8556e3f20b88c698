"""--prune for nginx and Apache: the declared file is the scope; the prune script, run with
stand-ins for the reload, edits the real file, which the real nginx -t / apache2 -t accept and
the reader reads back: the wholly extra entries are gone, the expected ones and every deny
stay, a partly extra one is kept."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import HOSTILE_SOURCES
from .mail_helpers import EXPECTED, calls, diff, extras, require, run_script, stand_in
from .test_web_generators import APACHE, _apache_ok, _nginx_ok

NGINX = """events {}
http {
    allow 10.20.0.0/16;
    deny all;
    server {
        listen 127.0.0.1:8088;
        location / {
            allow 192.0.2.0/23;
            allow 198.51.100.7; allow 203.0.113.0/24;  deny 203.0.113.9;
            allow 2001:db8:1::/48;
            allow   2001:db8:9::/48 ;
            deny 10.0.0.0/8;
            allow 10.9.0.0/16;  # old office
            deny all;
        }
    }
}
"""
NGINX_PRUNED = """events {}
http {
    deny all;
    server {
        listen 127.0.0.1:8088;
        location / {
            allow 192.0.2.0/23;
            allow 198.51.100.7; deny 203.0.113.9;
            allow 2001:db8:1::/48;
            deny 10.0.0.0/8;
            deny all;
        }
    }
}
"""


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text(EXPECTED)
    return path


def _denies(text: str) -> list[str]:
    return re.findall(r"deny [^;]*;", text)


def test_nginx_prune_roundtrip(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX)
    argv = ["-e", str(expected), "-d", str(conf), "--scope", "nginx.conf"]
    assert extras(*argv) == [
        "10.9.0.0/16", "10.20.0.0/16", "192.0.3.0/24", "203.0.113.0/24", "2001:db8:9::/48"
    ]  # fmt: skip
    out = tmp_path / "out"
    assert diff(*argv, "--rules", "auto", "--prune", "--output-dir", str(out)) == 0
    script = out / "nginx-all-prune.sh"
    assert "# kept: 192.0.2.0/23 (line 8) is only partly extra" in script.read_text()
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "nginx")
    run_script(script, bin_dir)
    assert conf.read_text() == NGINX_PRUNED
    assert _denies(conf.read_text()) == _denies(NGINX)  # no deny is ever touched
    assert calls(log) == [["-t"], ["-s", "reload"]]
    assert (tmp_path / ".nginx.conf.before-prune").read_text() == NGINX
    _nginx_ok(conf)
    assert extras(*argv) == ["192.0.3.0/24"]  # only the partly extra one is left
    assert diff("-e", str(expected), "-d", str(conf)) == 0  # the expected ones still in
    # run again: the file is not the one audited any more, and is left alone
    again = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert again.returncode == 1 and "SHA-256" in again.stderr
    assert conf.read_text() == NGINX_PRUNED


def test_nginx_prune_puts_the_file_back_when_the_check_fails(
    tmp_path: Path, expected: Path
) -> None:
    conf = tmp_path / "site.conf"
    conf.write_text(NGINX)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(conf), "--scope", str(conf)]
    assert diff(*argv, "--rules", "nginx", "--prune", "--output-dir", str(out)) == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    failing = bin_dir / "nginx"
    failing.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(1 if '-t' in sys.argv else 0)\n")
    failing.chmod(0o755)
    with pytest.raises(subprocess.CalledProcessError):
        run_script(out / "nginx-all-prune.sh", bin_dir)
    assert conf.read_text() == NGINX


def test_nginx_prune_of_a_copy_and_an_included_directory(tmp_path: Path, expected: Path) -> None:
    """Audited as a copy, pruned at its place (the first argument); the copy kept as it was
    is a hidden file, which nginx's include DIR/* does not load."""
    copy = tmp_path / "mail"
    site = "server {" + NGINX.split("    server {", 1)[1].rsplit("}", 1)[0]
    copy.write_text(site)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", f"file+nginx:{copy}", "--scope", "mail"]
    assert diff(*argv, "--rules", "nginx", "--prune", "--output-dir", str(out)) == 0
    enabled = tmp_path / "sites-enabled"
    enabled.mkdir()
    (enabled / "mail").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    include {enabled}/*;\n}}\n")
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "nginx")
    run_script(out / "nginx-all-prune.sh", bin_dir, str(enabled / "mail"))
    assert copy.read_text() == site  # the copy is not touched
    assert sorted(p.name for p in enabled.iterdir()) == [".mail.before-prune", "mail"]
    assert "203.0.113.0/24" not in (enabled / "mail").read_text()
    _nginx_ok(conf)  # a visible mail.before-prune would be a second server here


def test_nginx_prune_refusals(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX)
    prune = ["--rules", "nginx", "--prune"]
    dump = tmp_path / "dump.txt"
    dump.write_text(f"# configuration file /etc/nginx/nginx.conf:\n{NGINX}")
    assert diff("-e", str(expected), "-d", f"file+nginx:{dump}", "--scope", "dump.txt", *prune) == 2
    other = tmp_path / "hosts.txt"
    other.write_text("10.0.0.0/8\n")
    scoped = ["-e", str(expected), "-d", str(conf), "-d", str(other), "--scope", "hosts.txt"]
    assert diff(*scoped, *prune) == 2  # the scope is not an nginx file


APACHE_SITE = """<Location "/">
    <RequireAll>
        <RequireAny>
            Require ip 192.0.2.0/23 198.51.100.7\t203.0.113.0/24
            Require ip "2001:db8:1::/48" 2001:db8:9::/48
            Require ip 10.9
        </RequireAny>
        Require not ip 203.0.113.0/24
        <RequireNone>
            Require ip 172.16.0.0/12
        </RequireNone>
    </RequireAll>
</Location>
"""
APACHE_PRUNED = """<Location "/">
    <RequireAll>
        <RequireAny>
            Require ip 192.0.2.0/23 198.51.100.7
            Require ip "2001:db8:1::/48"
            Require all denied
        </RequireAny>
        Require not ip 203.0.113.0/24
        <RequireNone>
            Require ip 172.16.0.0/12
        </RequireNone>
    </RequireAll>
</Location>
"""


def _apache(tmp_path: Path, site: str) -> Path:
    main = APACHE.format(root=tmp_path).split('<Location "/">')[0]
    conf = tmp_path / "httpd.conf"
    conf.write_text(main + site)
    return conf


def test_apache_prune_roundtrip(tmp_path: Path, expected: Path) -> None:
    conf = _apache(tmp_path, APACHE_SITE)
    main = conf.read_text().removesuffix(APACHE_SITE)
    argv = ["-e", str(expected), "-d", f"file+apache:{conf}", "--scope", "httpd.conf"]
    # not 172.16.0.0/12: inside <RequireNone> it denies
    assert extras(*argv) == ["10.9.0.0/16", "192.0.3.0/24", "203.0.113.0/24", "2001:db8:9::/48"]
    out = tmp_path / "out"
    assert diff(*argv, "--rules", "auto", "--prune", "--output-dir", str(out)) == 0
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "apache2ctl")
    run_script(out / "apache-all-prune.sh", bin_dir)
    assert conf.read_text() == main + APACHE_PRUNED
    assert calls(log) == [["-t"], ["graceful"]]
    assert (tmp_path / ".httpd.conf.before-prune").read_text() == main + APACHE_SITE
    _apache_ok(conf)
    assert extras(*argv) == ["192.0.3.0/24"]
    assert diff("-e", str(expected), "-d", f"file+apache:{conf}") == 0


def test_apache_prune_in_require_all_denies_as_before(tmp_path: Path, expected: Path) -> None:
    """A line of a <RequireAll> left without addresses is `Require all denied`: removing it
    would let in whoever the other lines let in."""
    site = """<Directory "/srv">
    <RequireAll>
        Require ip 192.0.2.0/24 198.51.100.7 2001:db8:1::/48
        Require ip 192.168.0.0/16
    </RequireAll>
</Directory>
"""
    conf = _apache(tmp_path, site)
    main = conf.read_text().removesuffix(site)
    argv = ["-e", str(expected), "-d", f"file+apache:{conf}", "--scope", str(conf)]
    assert extras(*argv) == ["192.168.0.0/16"]
    missing = subprocess.run(
        [sys.executable, "-m", "auditor", "diff", *argv[:4], "-o", "cidr"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    out = tmp_path / "out"
    assert diff(*argv, "--rules", "apache", "--prune", "--output-dir", str(out)) == 1
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "apache2ctl")
    run_script(out / "apache-all-prune.sh", bin_dir)
    assert conf.read_text() == main + site.replace("ip 192.168.0.0/16", "all denied")
    _apache_ok(conf)
    assert extras(*argv) == []
    again = subprocess.run(
        [sys.executable, "-m", "auditor", "diff", *argv[:4], "-o", "cidr"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert again == missing and "192.0.2.0/24" in missing


def test_apache_prune_keeps_a_continued_line(tmp_path: Path, expected: Path) -> None:
    conf = tmp_path / "site.conf"
    text = "<Location />\n    Require ip 192.0.2.0/24 \\\n        203.0.113.0/24\n</Location>\n"
    conf.write_text(text)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", f"file+apache:{conf}", "--scope", "site.conf"]
    assert diff(*argv, "--rules", "apache", "--prune", "--output-dir", str(out)) == 1
    script = (out / "apache-all-prune.sh").read_text()
    assert "# kept: 203.0.113.0/24 (line 2): the line cannot be edited here" in script
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "apache2ctl")
    run_script(out / "apache-all-prune.sh", bin_dir)
    assert conf.read_text() == text and calls(log) == []


_NAMES = st.one_of(
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([s for s in HOSTILE_SOURCES if "/" not in s and "\x00" not in s]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_NAMES)
def test_hostile_file_names(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    """Whatever the file is called, the script edits that file and nothing runs: the name
    is quoted, or (not printable) the script asks for the file as its argument."""
    if name in (".", "..") or len(name.encode()) > 200:
        return
    tmp = tmp_path_factory.mktemp("n")
    expected = tmp / "expected.txt"
    expected.write_text(EXPECTED)
    conf = tmp / name
    conf.write_text(NGINX)
    out = tmp / "out"
    argv = ["-e", str(expected), "-d", f"file+nginx:{conf}", "--scope", str(conf)]
    assert diff(*argv, "--rules", "nginx", "--prune", "--output-dir", str(out)) == 0
    script = out / "nginx-all-prune.sh"
    assigned = [x for x in script.read_text().splitlines() if x.startswith("file=")]
    assert len(assigned) == 1
    if assigned[0].startswith("file=${1:-"):
        assert shlex.split(assigned[0][len("file=${1:-") : -1]) == [str(conf)]
    bin_dir = tmp / "bin"
    stand_in(bin_dir, "nginx")
    run_script(script, bin_dir, str(conf))
    assert conf.read_text() == NGINX_PRUNED
    assert sorted(p.name for p in tmp.iterdir()) == sorted(
        ["expected.txt", "out", "bin", name, f".{name}.before-prune"]
    )


def test_apache_binary_present_for_the_real_checks() -> None:
    require("apache2")
    require("nginx")
