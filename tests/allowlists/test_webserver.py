"""Web server readers: nginx allow/deny (first match, inheritance, contexts) and Apache
Require (RequireAll/Any/None logic) and Order/Allow/Deny."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import ipspace
from auditor.allowlists import READERS, ReadContext, ReaderError, reader_for
from auditor.allowlists.web.apache_conf import sniff_apache
from auditor.allowlists.web.nginx_conf import sniff_nginx
from auditor.model import Completeness, RangeSet, Severity
from auditor.sources.files import detect_format

from .helpers import of_kind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mailserver"


def read(fmt: str, data: str | Path, name: str = "site.conf", host_bits: str = "fix") -> RangeSet:
    if isinstance(data, Path):
        name, raw = str(data), data.read_bytes()
    else:
        raw = data.encode()
    ctx = ReadContext(name, "declared", "fix" if host_bits == "fix" else "reject")
    return reader_for(fmt).parse(raw, ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None] | None:
    family, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == family:
            seg = v.lookup(value)
            return None if seg is None else (seg.outcome, seg.rule.origin.line)
    raise AssertionError(f"no verdicts for IPv{family}")


def why(rs: RangeSet, address: str) -> str:
    family, value, _ = ipspace.parse_address(address)
    seg = next(v for v in rs.verdicts if v.family == family).lookup(value)
    assert seg is not None
    return seg.rule.describe()


# --- nginx -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.1", ("drop", 12)),  # `deny 192.0.2.1` before `allow 192.0.2.0/24`
        ("192.0.2.2", ("accept", 13)),
        ("2001:db8::1", ("accept", 14)),
        ("198.51.100.7", ("drop", 15)),  # the allow on line 16 comes after its deny
        ("8.8.8.8", ("drop", 17)),
        ("2001:db9::1", ("drop", 17)),
    ],
)
def test_nginx_first_match(address: str, expected: tuple[str, int]) -> None:
    rs = read("nginx", FIXTURES / "nginx" / "hooks.conf")
    assert verdict(rs, address) == expected


def test_nginx_single_location_is_complete() -> None:
    rs = read("nginx", FIXTURES / "nginx" / "hooks.conf")
    assert READERS["nginx"].ruleset
    assert rs.completeness is Completeness.COMPLETE
    assert rs.findings == ()  # `include mime.types` holds no access rules
    assert sorted((e.text, e.origin.line) for e in rs.entries) == [
        ("192.0.2.0/32", 13),
        ("192.0.2.2-192.0.2.255", 13),
        ("2001:db8::/32", 14),
    ]


def test_nginx_lets_in_what_no_rule_matches() -> None:
    rs = read("nginx", "location / {\n    deny 192.0.2.0/24;\n}\n")
    assert verdict(rs, "192.0.2.1") == ("drop", 2)
    assert verdict(rs, "8.8.8.8") == ("accept", 1)
    assert "end of the allow/deny rules of location /" in why(rs, "8.8.8.8")
    assert rs.completeness is Completeness.COMPLETE


def test_nginx_inheritance_is_all_or_nothing() -> None:
    rs = read(
        "nginx",
        "server {\n"  # 1
        "    allow 192.0.2.0/24;\n"  # 2
        "    deny all;\n"  # 3
        "    location /x {\n"  # 4
        "        allow 198.51.100.0/24;\n"  # 5: replaces the server's list, deny all too
        "    }\n"
        "    location / { }\n"  # 7: inherits the server's list
        "}\n",
    )
    # /x ends without a deny: everything else is let in there, but not at /
    assert verdict(rs, "203.0.113.1") == ("conditional", None)
    assert verdict(rs, "198.51.100.1") == ("conditional", None)
    # 192.0.2.0/24: allowed by / and, through the end of its list, by /x (named first)
    assert verdict(rs, "192.0.2.1") == ("accept", 4)
    assert "end of the allow/deny rules of location /x" in why(rs, "192.0.2.1")
    text = why(rs, "203.0.113.1")
    assert "depends on the URL" in text
    assert "location /x (line 4): accept" in text
    assert "location / (line 7): drop" in text


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.10", "accept"),  # every location and the server allow it
        ("192.0.2.11", "conditional"),  # /admin/ allows only .10
        ("198.51.100.1", "conditional"),
        ("203.0.113.1", "drop"),  # denied everywhere
        ("2001:db8::1", "drop"),
    ],
)
def test_nginx_locations_must_agree(address: str, expected: str) -> None:
    rs = read("nginx", FIXTURES / "nginx" / "locations.conf")
    got = verdict(rs, address)
    assert got is not None and got[0] == expected


def test_nginx_contexts_are_named() -> None:
    rs = read("nginx", FIXTURES / "nginx" / "locations.conf")
    assert rs.completeness is Completeness.PARTIAL
    (note,) = of_kind(rs, "contexts")
    for label in (
        "location /static/ (line 10)",
        "location /admin/ (line 13)",
        "limit_except GET (line 18)",
        "location /upload/ (line 17)",
        "server api.example.com (line 3)",
    ):
        assert label in note.message


def test_nginx_satisfy_any_makes_denials_conditional() -> None:
    rs = read("nginx", FIXTURES / "nginx" / "satisfy.conf")
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "8.8.8.8") == ("conditional", 4)
    assert "satisfy any" in why(rs, "8.8.8.8")


def test_nginx_unresolved_include() -> None:
    rs = read("nginx", FIXTURES / "nginx" / "include.conf")
    assert verdict(rs, "192.0.2.1") == ("accept", 4)  # decided before the include
    assert verdict(rs, "198.51.100.1") == ("conditional", 5)
    assert rs.completeness is Completeness.PARTIAL
    (unsupported,) = of_kind(rs, "unsupported")
    assert "include snippets/allow-partners.conf" in unsupported.message
    assert "nginx -T" in unsupported.message


def test_nginx_dump_follows_includes() -> None:
    rs = read("nginx", FIXTURES / "nginx" / "nginx-T.txt")
    assert rs.completeness is Completeness.COMPLETE
    # lines are those of the dump; sites-enabled/* matched no dumped file: it included none
    assert verdict(rs, "192.0.2.1") == ("accept", 21)
    assert verdict(rs, "2001:db8::1") == ("accept", 22)
    assert verdict(rs, "8.8.8.8") == ("drop", 17)
    assert rs.findings == ()


def test_nginx_real_ip_is_reported() -> None:
    rs = read(
        "nginx",
        "server {\n set_real_ip_from 10.0.0.0/8;\n real_ip_header X-Forwarded-For;\n"
        " allow 192.0.2.0/24;\n deny all;\n}\n",
    )
    notes = of_kind(rs, "real-ip")
    assert [n.origin.line for n in notes if n.origin] == [2, 3]
    assert notes[0].severity is Severity.WARNING


def test_nginx_unix_socket_and_quotes_and_comments() -> None:
    rs = read(
        "nginx",
        'location / { # comment\n  allow unix:;\n  allow "192.0.2.0/24";\n  deny all; }\n',
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "8.8.8.8") == ("drop", 4)


def test_nginx_host_bits() -> None:
    rs = read("nginx", "allow 192.0.2.5/24;\ndeny all;\n")
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    (note,) = of_kind(rs, "host-bits")
    assert "192.0.2.0/24" in note.message
    with pytest.raises(ReaderError) as err:
        read("nginx", "allow 192.0.2.5/24;\ndeny all;\n", host_bits="reject")
    assert err.value.line == 1


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("location / {\n  allow 192.0.2.0/24\n  deny all;\n}\n", 2, "invalid number of arg"),
        ("location / {\n  allow 192.0.2.0/24\n}\n", 3, "unexpected '}'"),
        ("allow 192.0.2.0/24", 1, "expecting ';'"),
        ("location / {\n  allow 192.0.2.0/24;\n", 3, "expecting '}'"),
        ("allow 192.0.2.0/24;\n}\n", 2, "unexpected '}'"),
        ("location / {\n  allow 192.0.2.0/33;\n}\n", 2, "invalid prefix length"),
        ("location / {\n  allow example.com;\n}\n", 2, "invalid parameter"),
        ("location / {\n  allow 192.0.2.1 192.0.2.2;\n}\n", 2, "invalid number of arguments"),
        ("server {\n if ($x) {\n  deny all;\n }\n}\n", 3, "not allowed in 'if'"),
        ('location / {\n  allow "192.0.2.1;\n}\n', 2, "closing quote"),
    ],
)
def test_nginx_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as err:
        read("nginx", text)
    assert err.value.line == line
    assert message in err.value.message
    assert err.value.source == "site.conf"


def test_nginx_without_rules_is_an_error() -> None:
    with pytest.raises(ReaderError) as err:
        read("nginx", "server {\n  listen 80;\n}\n")
    assert "nginx lets every client in" in err.value.message
    assert err.value.hint is not None and "nginx -T" in err.value.hint


# --- Apache ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "address", "expected"),
    [
        # <RequireAll>: the ip must match and the negated ip must not
        ("require.conf", "192.0.2.1", ("accept", 6)),
        ("require.conf", "192.0.2.200", ("drop", 7)),
        ("require.conf", "198.51.100.1", ("drop", 6)),
        ("require.conf", "2001:db8::1", ("accept", 6)),
        # implicit <RequireAny>: a grant wins; <RequireNone> cannot take it away
        ("any.conf", "198.51.100.7", ("accept", 3)),
        ("any.conf", "10.1.2.3", ("accept", 3)),  # the partial address `10.1`
        ("any.conf", "10.2.0.1", ("conditional", 4)),  # Require valid-user might let it in
        ("any.conf", "2001:db8::1", ("conditional", 4)),
        # all granted, minus two networks (one as address/netmask)
        ("all-granted.conf", "192.0.2.1", ("drop", 4)),
        ("all-granted.conf", "192.0.2.200", ("accept", 3)),
        ("all-granted.conf", "203.0.113.9", ("drop", 4)),
        ("all-granted.conf", "2001:db8::1", ("accept", 3)),
        # Order Allow,Deny: allowed when an Allow matches and no Deny does
        ("legacy.htaccess", "192.0.2.1", ("accept", 7)),
        ("legacy.htaccess", "192.0.2.70", ("drop", 8)),
        ("legacy.htaccess", "198.51.100.5", ("accept", 7)),  # the partial address 198.51.100
        ("legacy.htaccess", "8.8.8.8", ("drop", 6)),
    ],
)
def test_apache_logic(name: str, address: str, expected: tuple[str, int]) -> None:
    rs = read("apache", FIXTURES / "apache" / name)
    assert verdict(rs, address) == expected


def test_apache_results() -> None:
    rs = read("apache", FIXTURES / "apache" / "require.conf")
    assert READERS["apache"].ruleset
    assert rs.completeness is Completeness.COMPLETE
    assert sorted((e.text, e.origin.line) for e in rs.entries) == [
        ("192.0.2.0/25", 6),
        ("2001:db8::/32", 6),
    ]
    rs = read("apache", FIXTURES / "apache" / "any.conf")
    assert rs.completeness is Completeness.PARTIAL
    assert "Require valid-user is not evaluated" in rs.reasons[0]
    rs = read("apache", FIXTURES / "apache" / "legacy.htaccess")
    (skipped,) = of_kind(rs, "assumed")
    assert "IfModule !mod_authz_core.c" in skipped.message


def test_apache_order_deny_allow() -> None:
    rs = read(
        "apache",
        "Order Deny,Allow\nDeny from all\nAllow from 192.0.2.0/24 partner.example.com\n",
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "8.8.8.8") == ("conditional", 3)  # its name might be partner's
    assert "host name" in why(rs, "8.8.8.8")
    rs = read("apache", "Deny from 192.0.2.0/24\n")  # the default order is Deny,Allow
    assert verdict(rs, "192.0.2.1") == ("drop", 1)
    assert verdict(rs, "8.8.8.8") == ("accept", None)


def test_apache_mixing_old_and_new_is_conditional() -> None:
    rs = read("apache", FIXTURES / "apache" / "mixed.conf")
    assert rs.completeness is Completeness.PARTIAL
    assert verdict(rs, "192.0.2.1") == ("conditional", None)
    assert "<Location /mixed> (line 1): conditional" in why(rs, "192.0.2.1")
    rs = read(
        "apache", "<Location /mixed>\n  Deny from all\n  Require ip 192.0.2.0/24\n</Location>\n"
    )
    assert verdict(rs, "192.0.2.1") == ("conditional", 1)
    assert "Apache does not support mixing them" in why(rs, "192.0.2.1")


def test_apache_limit_and_if_are_conditional() -> None:
    rs = read(
        "apache",
        "<Directory /srv>\n"  # 1
        "  Require ip 192.0.2.0/24\n"  # 2
        "  <Limit POST>\n"  # 3
        "    Require ip 198.51.100.0/24\n"  # 4
        "  </Limit>\n"
        "  <If \"%{HTTP_HOST} == 'a'\">\n"  # 6
        "    Require all granted\n"
        "  </If>\n"
        "</Directory>\n",
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 2)
    assert verdict(rs, "198.51.100.1") == ("conditional", 1)
    assert verdict(rs, "8.8.8.8") == ("conditional", 1)


def test_apache_require_local_and_continuation() -> None:
    rs = read(
        "apache", "<Location />\n  Require local \\\n    \n  Require ip 192.0.2.1\n</Location>\n"
    )
    assert verdict(rs, "127.0.0.1") == ("accept", 2)
    assert verdict(rs, "::1") == ("accept", 2)
    assert verdict(rs, "192.0.2.1") == ("accept", 4)
    assert verdict(rs, "8.8.8.8") == ("drop", 2)


def test_apache_contexts_must_agree() -> None:
    rs = read(
        "apache",
        "<Directory /a>\n  Require ip 192.0.2.0/24\n</Directory>\n"
        "<Directory /b>\n  Require ip 192.0.2.0/25\n</Directory>\n",
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 2)
    assert verdict(rs, "192.0.2.200") == ("conditional", None)
    assert verdict(rs, "8.8.8.8") == ("drop", 2)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("<Directory /a>\n  Require ip 192.0.2.0/24\n", 1, "is not closed"),
        ("<Directory /a>\n</Location>\n", 2, "without matching"),
        ("<VirtualHost *:80>\n  Require all granted\n</VirtualHost>\n", 2, "not allowed here"),
        ("<Location />\n  Require ip 192.0.2.999\n</Location>\n", 2, "appears to be invalid"),
        ("<Location />\n  Require ip 10.0.0.0/255.0.255.0\n</Location>\n", 2, "non-contiguous"),
        ("<Location />\n  Require all maybe\n</Location>\n", 2, "granted' or 'denied'"),
        ("<Location />\n  Require\n</Location>\n", 2, "needs a provider"),
        ("Allow 192.0.2.1\n", 1, "followed by 'from'"),
        ("Order Allow\nAllow from all\n", 1, "unknown Order"),
    ],
)
def test_apache_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as err:
        read("apache", text)
    assert err.value.line == line
    assert message in err.value.message


def test_apache_without_access_directives_is_an_error() -> None:
    with pytest.raises(ReaderError, match="no Require, Allow or Deny"):
        read("apache", "<Directory /srv>\n  Options None\n</Directory>\n")


def test_apache_host_bits() -> None:
    rs = read("apache", "Require ip 192.0.2.5/24\n")
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert of_kind(rs, "host-bits")


# --- detection ---------------------------------------------------------------------------------


def test_detection() -> None:
    hooks = (FIXTURES / "nginx" / "hooks.conf").read_bytes()
    assert detect_format("default", hooks) == "nginx"  # sites-available/default
    assert detect_format("-", hooks) == "nginx"
    legacy = (FIXTURES / "apache" / "legacy.htaccess").read_bytes()
    assert detect_format(".htaccess", legacy) == "apache"
    assert detect_format("site.htaccess", b"Require all granted\n") == "apache"
    assert detect_format("-", (FIXTURES / "apache" / "require.conf").read_bytes()) == "apache"


@pytest.mark.parametrize(
    "data",
    [b"192.0.2.0/24\n", b"allow: 192.0.2.0/24\n", b"# allow 192.0.2.1\n", b"requires ip\n"],
)
def test_lists_are_not_sniffed_as_web_server_rules(data: bytes) -> None:
    assert not sniff_nginx(data)
    assert not sniff_apache(data)
