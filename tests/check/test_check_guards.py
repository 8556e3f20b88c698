"""The integrity checks of fetched feeds for expected sources read from local files, against
the state: a copy that shrinks past --max-shrink, or whose version goes backwards, fails."""

from __future__ import annotations

import json
from pathlib import Path

NODES = "192.0.2.0/26\n198.51.100.0/28\n2001:db8::/48\n"


def _setup(tmp_path: Path, extra: str = "") -> tuple[Path, Path, Path]:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "nodes.txt").write_text(NODES)
    (folder / "allow.txt").write_text(NODES)
    path = folder / "audits.yaml"
    path.write_text(
        "audits:\n  mirror:\n    expected: [nodes.txt]\n    declared: [allow.txt]\n"
        "    outputs: {cidr: out.cidr}\n" + extra
    )
    state = tmp_path / "state"
    state.mkdir()
    return folder, path, state


def test_a_local_copy_that_shrinks_fails_until_accepted(tmp_path: Path, run_cli) -> None:
    folder, path, state = _setup(tmp_path)
    assert run_cli("check", str(path), "--state-dir", str(state)).code == 0
    kept = (state / "mirror.state.json").read_bytes()
    (folder / "nodes.txt").write_text("192.0.2.0/28\n198.51.100.0/28\n2001:db8::/48\n")
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 2
    assert "IPv4 addresses shrank by 60.0% since the last complete run" in err
    assert (state / "mirror.state.json").read_bytes() == kept
    assert (folder / "out.cidr.failed").exists()
    # the user looked: the provider did remove them
    path.write_text(path.read_text() + "    accept_shrink: true\n")
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 0, err
    assert "expected entry" not in out and "provider range removed 192.0.2.0/26" in out


def _aws(token: str) -> str:
    return json.dumps(
        {
            "syncToken": token,
            "createDate": "2026-01-01-00-00-00",
            "prefixes": [
                {
                    "ip_prefix": "192.0.2.0/24",
                    "region": "eu-west-1",
                    "service": "AMAZON",
                    "network_border_group": "eu-west-1",
                }
            ],
            "ipv6_prefixes": [],
        }
    )


def test_a_local_copy_whose_version_goes_backwards_fails(tmp_path: Path, run_cli) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "ip-ranges.json").write_text(_aws("200"))
    (folder / "allow.txt").write_text("192.0.2.0/24\n")
    path = folder / "audits.yaml"
    path.write_text(
        "audits:\n  aws:\n    expected: ['aws:from=ip-ranges.json']\n    declared: [allow.txt]\n"
    )
    state = tmp_path / "state"
    state.mkdir()
    code, _, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 0, err
    (folder / "ip-ranges.json").write_text(_aws("100"))
    code, out, err = run_cli("check", str(path), "--state-dir", str(state))
    assert code == 2
    assert "syncToken went backwards (100 < 200" in err
    (folder / "ip-ranges.json").write_text(_aws("300"))
    assert run_cli("check", str(path), "--state-dir", str(state)).code == 0
