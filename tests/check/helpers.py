"""Configurations for the tests of ``auditor check``: a feed on the local HTTPS server and
local declared files, in a folder of their own."""

from __future__ import annotations

from pathlib import Path

from httpd import FeedServer, Reply

FEED_V1 = b"# feed\n192.0.2.0/28\n198.51.100.0/27\n2001:db8:1::/48\n"
ALLOW_V1 = "examplecloud:\n  - 192.0.2.0/28\n  - 198.51.100.0/28\n  - 203.0.113.7\n"


def serve(server: FeedServer, body: bytes) -> str:
    server.route("/feed.txt", Reply(body=body, content_type="text/plain"))
    return server.url("/feed.txt")


def write_config(
    folder: Path,
    server: FeedServer,
    *,
    feed: bytes = FEED_V1,
    allow: str = ALLOW_V1,
    audits: int = 1,
    extra: str = "",
) -> Path:
    """``audits.yaml`` in ``folder``: ``audits`` audits of the served feed against
    ``allow.yaml`` (scope examplecloud), each with json, md and cidr outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    url = serve(server, feed)
    (folder / "allow.yaml").write_text(allow)
    lines = [
        "defaults:",
        f"  ca_bundle: {server.ca_bundle}",
        "  cache_dir: cache",
        "  timeout: 10",
        "audits:",
    ]
    for i in range(audits):
        name = f"mail{i}" if audits > 1 else "mail"
        lines += [
            f"  {name}:",
            f"    expected: ['text:{url}']",
            "    declared: [allow.yaml]",
            "    scope: [examplecloud]",
            f"    outputs: {{json: reports/{name}.json, md: reports/{name}.md,"
            f" cidr: reports/{name}.cidr}}",
        ]
    path = folder / "audits.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
