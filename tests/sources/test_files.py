"""Reading local files: what is not a regular file, text encodings, and formats that are
recognised but not read."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext
from auditor.errors import InputError
from auditor.ipspace import IPSpace
from auditor.model import RangeSet, Severity
from auditor.sources import files, foreign
from auditor.sources.base import FeedError
from auditor.sources.catalog import load_catalog
from auditor.sources.load import LoadOptions, SourceLoader

EXPECTED = "192.0.2.0/24\n198.51.100.0/24\n"
ALL = "198.51.100.0/24\n192.0.2.0/24\n"


def auditor(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m auditor ARGS`` in a real process (a FIFO can block it, the test must not)."""
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


# --- what is not a regular file ----------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
@pytest.mark.parametrize("side", ["-d", "-e"])
def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path, side: str) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_text(ALL)
    os.mkfifo(tmp_path / "pipe")  # nobody ever writes to it: opening it to read would block
    other = "-e" if side == "-d" else "-d"
    files = {"-d": "all.txt", "-e": "exp.txt"}
    proc = auditor("diff", "-o", "cidr", side, "pipe", other, files[other], cwd=tmp_path)
    assert proc.returncode == 2
    assert "pipe: is a named pipe (FIFO), not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_fifo_given_to_a_provider_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "all.txt").write_text(ALL)
    proc = auditor("diff", "-e", "azure:from=pipe", "-d", "all.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert "named pipe" in proc.stderr


def test_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    proc = auditor("diff", "-e", "exp.txt", "-d", "/dev/zero", cwd=tmp_path)
    assert proc.returncode == 2
    assert "/dev/zero: is a device, not a regular file" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
def test_process_substitution_and_dev_stdin_are_still_read(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_text(ALL)
    cmd = f"{sys.executable} -m auditor diff -o cidr -e <(cat exp.txt) -d /dev/stdin < all.txt"
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


IPTABLES = Path(__file__).parent.parent / "fixtures" / "firewall" / "iptables_chains.v4"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
@pytest.mark.parametrize(
    "command",
    [
        pytest.param("{auditor} -d <(cat {list})", id="process-substitution"),
        pytest.param("cat {list} | {auditor} -d /dev/stdin", id="pipe-on-dev-stdin"),
    ],
)
@pytest.mark.parametrize("listed", ["half.txt", str(IPTABLES)], ids=["text", "iptables"])
def test_a_pipe_given_for_declared_is_read_once_and_whole(
    tmp_path: Path, command: str, listed: str
) -> None:
    # the format of a declared source is looked at before it is loaded: a pipe can be read
    # only once, so a second read saw nothing ("file is empty")
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "half.txt").write_text("192.0.2.0/24\n")
    diff = f"{sys.executable} -m auditor diff -o json -e exp.txt"

    def run(cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", cmd],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )

    direct = run(f"{diff} -d {listed}")
    proc = run(command.format(auditor=diff, list=listed))
    assert "empty" not in proc.stderr
    assert proc.returncode == direct.returncode
    assert json.loads(proc.stdout)["missing"] == json.loads(direct.stdout)["missing"]
    assert json.loads(proc.stdout)["missing"]  # not everything is allowed: a real comparison


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for a pipe")
def test_a_pipe_on_dev_stdin_keeps_the_size_limit(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_text(ALL * 10)
    cmd = (
        f"cat all.txt | {sys.executable} -m auditor diff -o cidr -e exp.txt -d /dev/stdin"
        " --max-bytes 100"
    )
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "/dev/stdin: input is over the limit of 100 bytes" in proc.stderr


# --- text encodings ----------------------------------------------------------------------------

EXCHANGE = Path(__file__).parent.parent / "fixtures" / "mailserver" / "exchange" / "connectors.txt"


def _load(path: Path, fmt: str | None = None) -> RangeSet:
    return files.load(str(path), ReadContext(path.name, "declared"), fmt=fmt)


@pytest.mark.parametrize(
    ("codec", "bom", "label"),
    [
        pytest.param("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 LE", id="le-bom"),
        pytest.param("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 BE", id="be-bom"),
        pytest.param("utf-16-le", b"", "UTF-16 LE", id="le-no-bom"),
        pytest.param("utf-16-be", b"", "UTF-16 BE", id="be-no-bom"),
        pytest.param("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32 LE", id="utf32-le-bom"),
        pytest.param("utf-32-be", codecs.BOM_UTF32_BE, "UTF-32 BE", id="utf32-be-bom"),
    ],
)
def test_utf16_text_lists_are_decoded_and_said_so(
    tmp_path: Path, codec: str, bom: bytes, label: str
) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(bom + "# relays\r\n192.0.2.0/24\r\n2001:db8::1\r\n".encode(codec))
    rs = _load(path)
    assert rs.space == IPSpace.from_text(["192.0.2.0/24", "2001:db8::1"])
    assert [e.origin.line for e in rs.entries] == [2, 3]
    (note,) = [f for f in rs.findings if f.kind == "encoding"]
    assert note.severity is Severity.INFO
    assert label in note.message
    assert ("byte order mark" in note.message) and (("no byte" in note.message) == (not bom))
    # the source is identified by the file's own bytes
    assert rs.info.size_bytes == path.stat().st_size
    assert rs.info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_powershell_exchange_export_in_utf16_is_detected_and_read(tmp_path: Path) -> None:
    # Windows PowerShell 5.1: Get-ReceiveConnector | Format-List > connectors.txt
    text = EXCHANGE.read_text(encoding="utf-8")
    path = tmp_path / "connectors.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"))
    rs = _load(path)
    plain = _load(EXCHANGE)
    assert rs.info.format == plain.info.format == "exchange-connector"
    assert rs.space == plain.space
    assert [f.kind for f in rs.findings] == [f.kind for f in plain.findings] + ["encoding"]


def test_damaged_utf16_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    # a lone high surrogate on line 2
    path.write_bytes(codecs.BOM_UTF16_LE + "192.0.2.1\n".encode("utf-16-le") + b"\x00\xd8a\x00")
    with pytest.raises(InputError) as info:
        _load(path)
    assert info.value.line == 2
    assert "UTF-16 LE" in str(info.value)


def test_utf16_through_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_bytes(codecs.BOM_UTF16_LE + ALL.encode("utf-16-le"))
    proc = auditor("diff", "-o", "cidr", "-e", "exp.txt", "-d", "all.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "info: all.txt: decoded as UTF-16 LE" in proc.stderr


@pytest.mark.parametrize("spec", ["text:feed.txt", "json:feed.json#prefixes[].ip_prefix"])
def test_utf16_local_feeds_are_decoded_and_said_so(tmp_path: Path, spec: str) -> None:
    # a feed kept on disk by a Windows job (text: and json: with a path, a catalog url: path)
    body = (
        "192.0.2.0/24\n"
        if spec.startswith("text:")
        else '{"prefixes":[{"ip_prefix":"192.0.2.0/24"}]}'
    )
    name = spec.split(":", 1)[1].split("#")[0]
    (tmp_path / name).write_bytes(body.encode("utf-16"))
    cache = tmp_path / "cache"
    proc = auditor("fetch", "--cache-dir", str(cache), spec, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "192.0.2.0/24\n"), proc.stderr
    assert "decoded as UTF-16 LE" in proc.stderr


def test_utf8_with_a_bom_and_plain_ascii_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"192.0.2.1\n")
    rs = _load(path)
    assert rs.space == IPSpace.from_text(["192.0.2.1"])
    assert [f for f in rs.findings if f.kind == "encoding"] == []


# --- formats that are recognised but not read --------------------------------------------------

FOREIGN = [
    pytest.param(
        "acl.txt",
        "access-list OUT; 1 elements; name hash: 0x1\n"
        "access-list OUT line 1 extended permit tcp 192.0.2.0 255.255.255.0 any eq smtp"
        " (hitcnt=0) 0x2\n",
        "show access-list",
        1,
        id="cisco-asa-show",
    ),
    pytest.param(
        "acl.txt",
        "Extended IP access list MAIL\n    10 permit tcp 192.0.2.0 0.0.0.255 any eq smtp\n",
        "show access-lists",
        1,
        id="cisco-ios-show",
    ),
    pytest.param(
        "policies.txt",
        "From zone: untrust, To zone: trust\n  Policy: mail, State: enabled, Index: 4\n"
        "    Source addresses: 192.0.2.0/24\n",
        "JunOS operational output",
        1,
        id="junos-show",
    ),
    pytest.param(
        "forti.conf",
        'FGT # show firewall address\nconfig firewall address\n    edit "mail"\n'
        "        set subnet 192.0.2.0 255.255.255.0\n    next\nend\n",
        "FortiOS",
        2,
        id="fortios-console-copy",
    ),
    pytest.param(
        "policy.txt",
        '"mail in" {\n        from untrust;\n        source any;\n        to trust;\n'
        "        application/service  any/tcp/any/25;\n        action allow;\n}\n",
        "PAN-OS `show running security-policy`",
        1,
        id="panos-show-policy",
    ),
    pytest.param(
        "pf.conf",
        "table <mail> { 192.0.2.0/24 }\nblock in all\npass in quick proto tcp from <mail> to"
        " any port 25\n",
        "pf ruleset",
        1,
        id="pf",
    ),
    pytest.param(
        "rules.txt",
        "Chain INPUT (policy DROP)\ntarget     prot opt source               destination\n"
        "ACCEPT     tcp  --  192.0.2.0/24         anywhere             tcp dpt:smtp\n",
        "iptables -L",
        1,
        id="iptables-L",
    ),
    pytest.param(
        "rules.txt",
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
        " pkts bytes target     prot opt in     out     source               destination\n"
        "    0     0 DROP       tcp  --  *      *       192.0.2.0/24         0.0.0.0/0\n",
        "iptables -L",
        1,
        id="iptables-L-nv",
    ),
    pytest.param(
        "page.txt",
        "<!DOCTYPE html>\n<html><body><p>192.0.2.0/24</p></body></html>\n",
        "HTML page",
        2,
        id="html",
    ),
    pytest.param("list.txt", "<list>\n<ip>192.0.2.1</ip>\n</list>\n", "XML", 1, id="other-xml"),
]


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
@pytest.mark.parametrize(("name", "content", "what", "line"), FOREIGN)
def test_a_known_format_that_is_not_read_is_named(
    tmp_path: Path, name: str, content: str, what: str, line: int, lenient: bool
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as info:
        files.load(str(path), ReadContext(name, "declared", lenient=lenient))
    message = str(info.value)
    assert message.startswith(f"{name}:{line}: this looks like ")
    assert what in message
    assert info.value.hint  # what to give instead


def test_iptables_l_output_is_told_to_use_iptables_save(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "rules.txt").write_text("Chain INPUT (policy DROP)\ntarget prot opt source\n")
    proc = auditor("diff", "-e", "exp.txt", "-d", "rules.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert "rules.txt:1: this looks like `iptables -L` output" in proc.stderr
    assert "iptables-save" in proc.stderr


GEOFEED = (
    "# prefix,country,region,city,postal\n"
    "192.0.2.0/24,NL,NL-NH,Amsterdam,1098 XH\n"
    "2001:db8::/32,US,US-NJ,North Bergen,07047\n"
)
CSV = "name,start,end\nrelays,192.0.2.0/24,\nbackup,198.51.100.7,\n"


@pytest.mark.parametrize(
    ("content", "what", "line", "space"),
    [
        pytest.param(GEOFEED, "geofeed", 2, ["192.0.2.0/24", "2001:db8::/32"], id="geofeed"),
        pytest.param(CSV, "CSV", 1, ["192.0.2.0/24", "198.51.100.7"], id="csv"),
    ],
)
def test_a_table_is_refused_as_a_list_and_read_with_lenient(
    tmp_path: Path, content: str, what: str, line: int, space: list[str]
) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        files.load(str(path), ReadContext("feed.csv", "declared"))
    assert str(info.value).startswith(f"feed.csv:{line}: this looks like ")
    assert what in str(info.value)
    assert "--lenient" in str(info.value)
    rs = files.load(str(path), ReadContext("feed.csv", "declared", lenient=True))
    assert rs.space == IPSpace.from_text(space)


def test_an_explicit_format_is_not_second_guessed(tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_text("Chain INPUT (policy DROP)\n")
    with pytest.raises(InputError) as info:
        files.load(str(path), ReadContext("rules.txt", "declared"), fmt="text")
    assert "looks like" not in str(info.value)


def test_plain_lists_are_not_taken_for_other_formats() -> None:
    lists = [
        "192.0.2.0/24\n# access-list OUT extended permit ip any any\n2001:db8::/32\n",
        "; set address x\n198.51.100.7 # config firewall address\n",
        "192.0.2.10-192.0.2.20\n[2001:db8::1]\n",
        "192.0.2.0/24 # relays, primary\n198.51.100.7 ; backup, old\n",
        (
            Path(__file__).parents[1] / "fixtures" / "inputs" / "support-portal-table.txt"
        ).read_text(),
    ]
    for text in lists:
        assert foreign.recognise(text.encode()) is None, text


@pytest.mark.parametrize("first", [b"<", b"<?", b"<!", b"<x", b"{", b"access-list "])
def test_binary_data_is_never_taken_for_a_document(first: bytes, tmp_path: Path) -> None:
    # Random bytes that happen to begin like markup or a configuration are binary, not XML:
    # the error says it is not a text file, whatever the first bytes are.
    data = first + bytes(range(256)) * 64
    assert foreign.recognise(data) is None
    path = tmp_path / "blob.txt"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        files.load(str(path), ReadContext("blob.txt", "declared"))
    assert "not a text file" in str(info.value)
    assert "looks like" not in str(info.value)


def test_a_lone_angle_bracket_is_not_markup() -> None:
    assert foreign.recognise(b"< 192.0.2.1\n") is None
    found = foreign.recognise(b"<?xml version='1.0'?>\n<config/>\n")
    assert found is not None and "XML" in found.what


def _corpus() -> Path | None:
    """The shared corpus, next to the repository or one of its parents (a worktree)."""
    here = Path(__file__).resolve().parents[2]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared" / "corpus"
    return None


CORPUS = _corpus()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")

# corpus file name prefix -> what it must be recognised as
CORPUS_KINDS = {
    "cisco-": "Cisco",
    "arista_": "Arista",
    "panos": "PAN-OS",
    "fortigate_": "FortiOS",
    "pf_": "pf ruleset",
    "iptables-L_": "iptables -L",
}


@needs_corpus
def test_real_configurations_in_the_corpus_are_recognised() -> None:
    assert CORPUS is not None
    seen = 0
    for path in sorted((CORPUS / "firewall").iterdir()):
        kind = next((k for p, k in CORPUS_KINDS.items() if path.name.startswith(p)), None)
        if kind is None:
            continue
        found = foreign.recognise(path.read_bytes())
        assert found is not None and kind in found.what, path.name
        seen += 1
    assert seen >= 50


@needs_corpus
def test_real_geofeeds_are_read_with_lenient_and_refused_without() -> None:
    assert CORPUS is not None
    feeds = sorted((CORPUS / "feeds").glob("*geofeed*.csv"))
    if not feeds:
        pytest.skip("no geofeed in the corpus")
    for path in feeds:
        with pytest.raises(InputError, match="geofeed"):
            files.load(str(path), ReadContext(path.name, "declared"))
        rs = files.load(str(path), ReadContext(path.name, "declared", lenient=True))
        assert rs.space.size(4) > 0 and rs.completeness.value == "complete", path.name


@needs_corpus
def test_real_lists_in_the_corpus_are_not_taken_for_other_formats() -> None:
    assert CORPUS is not None
    lists = [
        *sorted((CORPUS / "feeds").glob("*.txt")),
        *sorted((CORPUS / "spf").glob("spf-flattened_*.txt")),
        *sorted((CORPUS / "mailserver").glob("*.cidr")),
    ]
    assert lists
    for path in lists:
        assert foreign.recognise(path.read_bytes()) is None, path.name


# --- XML given where a feed is expected --------------------------------------------------------

LEGACY_AZURE = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<AzurePublicIpAddresses xmlns:xsd="http://www.w3.org/2001/XMLSchema">\n'
    '  <Region Name="europewest"><IpRange Subnet="192.0.2.0/24" /></Region>\n'
    "</AzurePublicIpAddresses>\n"
)


@pytest.mark.parametrize(
    ("spec", "content", "what"),
    [
        pytest.param("azure:from={}", LEGACY_AZURE, "the legacy Azure PublicIPs XML", id="azure"),
        pytest.param(
            "okta:from={}",
            '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
            "an XML document",
            id="xml-error",
        ),
        pytest.param("text:{}", LEGACY_AZURE, "the legacy Azure PublicIPs XML", id="text-feed"),
    ],
)
def test_an_xml_file_given_for_a_feed_is_called_xml_not_html(
    tmp_path: Path, spec: str, content: str, what: str
) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(content)
    with pytest.raises(FeedError) as info:
        SourceLoader(load_catalog()).load(spec.format(path), LoadOptions())
    message = str(info.value)
    assert f"this is {what}, not " in message
    assert "HTML" not in message and "captive portal" not in message
    if "azure" in spec or "text" in spec:
        assert "Service Tags JSON" in message


def test_an_html_page_is_still_called_html(tmp_path: Path) -> None:
    page = tmp_path / "feed.json"
    page.write_text("<!DOCTYPE html><html><body>Please log in</body></html>")
    with pytest.raises(FeedError) as info:
        SourceLoader(load_catalog()).load(f"azure:from={page}", LoadOptions())
    assert "HTML page" in str(info.value)


@pytest.mark.parametrize(
    ("body", "recognised"),
    [
        (
            b"# relays\n192.0.2.0/24\n2001:db8::/32 ; v6\n[2001:db8:1::1]\n"
            b"198.51.100.1-198.51.100.9\n",
            False,
        ),
        (b"192.0.2.0/24\naccess-list OUT permit ip any any\n", True),
        (b"prefix,country\n192.0.2.0/24,US,,,\n", True),
    ],
)
def test_the_quick_check_skips_only_plain_lists(body: bytes, recognised: bool) -> None:
    # a list made of address characters and comments is never one of the foreign formats, so
    # their patterns are skipped for it; anything else still goes through them
    plain = files._PLAIN_LIST.fullmatch(body) is not None
    assert plain is not recognised
    if not plain:
        assert foreign.recognise(body) is not None


def test_a_plain_list_does_not_load_the_format_recogniser(tmp_path: Path) -> None:
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n2001:db8::/32\n")
    probe = (
        "import sys\n"
        "from auditor.cli import run\n"
        "sys.argv = ['auditor', 'fetch', 'e.txt']\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('auditor.sources.foreign' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"
