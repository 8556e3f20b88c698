"""A feed read from a local path (a mirror named by a catalog ``url:`` or by ``from=``) gets the
checks a fetched feed gets: its version must not go backwards and it must not shrink beyond
--max-shrink, against the last copy accepted from that path, kept in the cache directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli, WriteFile

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "feeds"

NEW = [f"192.0.2.{i * 16}/28" for i in range(16)]  # the whole /24, as 16 CIDRs
OLD = NEW[:4]


def aws_doc(token: int, prefixes: list[str], created: str = "2026-01-01-00-00-00") -> str:
    items = [
        {"ip_prefix": p, "region": "eu-west-1", "service": "EC2", "network_border_group": "x"}
        for p in prefixes
    ]
    doc = {"syncToken": str(token), "createDate": created, "prefixes": items, "ipv6_prefixes": []}
    return json.dumps(doc)


@pytest.fixture
def mirror(write: WriteFile) -> Path:
    """A catalog whose aws feed is the local file mirror/ip-ranges.json; returns that path."""
    path = write("mirror/ip-ranges.json", aws_doc(1767225600, NEW))
    write("catalog.yaml", f"providers:\n  aws:\n    url: {path}\n")
    return path


def fetch(run_cli: RunCli, *args: str) -> tuple[int, str, str]:
    return run_cli("fetch", "aws:service=EC2", "--catalog", "catalog.yaml", *args)


def test_a_mirror_swapped_for_an_older_smaller_feed_fails(
    run_cli: RunCli, mirror: Path, write: WriteFile
) -> None:
    code, out, err = fetch(run_cli)
    assert code == 0, err
    assert out == "192.0.2.0/24\n"
    mirror.write_text(aws_doc(1627430400, OLD, "2021-07-28-00-00-00"))
    code, out, err = fetch(run_cli)
    assert code == 2
    assert out == ""
    assert f"{mirror}: IPv4 addresses shrank by 75.0% since the last accepted copy" in err
    assert "(256 -> 64), over the limit of 20%" in err
    assert "--accept-shrink" in err
    # diff with the mirror as the expected side fails the same way
    write("allow.txt", "192.0.2.0/24\n")
    code, _, err = run_cli(
        "diff", "-e", "aws:service=EC2", "-d", "allow.txt", "--catalog", "catalog.yaml"
    )
    assert code == 2
    assert "shrank by 75.0%" in err


def test_a_refused_copy_never_becomes_the_baseline(run_cli: RunCli, mirror: Path) -> None:
    assert fetch(run_cli)[0] == 0
    good = mirror.read_text()
    mirror.write_text(aws_doc(1767225601, OLD))
    assert fetch(run_cli)[0] == 2
    assert fetch(run_cli)[0] == 2  # still compared with the 16 CIDRs
    mirror.write_text(good)
    assert fetch(run_cli)[0] == 0


def test_accept_shrink_makes_the_smaller_copy_the_baseline(run_cli: RunCli, mirror: Path) -> None:
    assert fetch(run_cli)[0] == 0
    mirror.write_text(aws_doc(1767225601, OLD))
    code, out, err = fetch(run_cli, "--accept-shrink")
    assert code == 0, err
    assert out == "192.0.2.0/26\n"
    assert "shrank by 75.0%" in err and "(accepted)" in err
    code, _, err = fetch(run_cli)
    assert code == 0, err
    assert "shrank" not in err


def test_a_version_going_backwards_is_named_and_the_newer_copy_stays_the_baseline(
    run_cli: RunCli, mirror: Path
) -> None:
    assert fetch(run_cli)[0] == 0
    mirror.write_text(aws_doc(1767225500, NEW))
    code, out, err = fetch(run_cli, "-o", "json")
    assert "syncToken went backwards (1767225500 < cached 1767225600)" in err
    assert "the last accepted copy is kept as the baseline" in err
    mirror.write_text(aws_doc(1767225400, NEW))
    _, _, err = fetch(run_cli)
    assert "(1767225400 < cached 1767225600)" in err  # still compared with the newest


def test_a_mirror_dated_in_the_future_is_named(run_cli: RunCli, mirror: Path) -> None:
    mirror.write_text(aws_doc(1767225600, NEW, "2999-01-01-00-00-00"))
    code, _, err = fetch(run_cli)
    assert "2999-01-01-00-00-00 UTC" in err and "check the clock" in err


def test_the_baseline_belongs_to_the_absolute_path(
    run_cli: RunCli, mirror: Path, write: WriteFile
) -> None:
    """from=, relative or absolute, names the same file and so the same baseline; another
    file has its own."""
    assert run_cli("fetch", f"aws:service=EC2,from={mirror}")[0] == 0
    mirror.write_text(aws_doc(1767225601, OLD))
    code, _, err = run_cli("fetch", "aws:service=EC2,from=mirror/ip-ranges.json")
    assert code == 2 and "shrank by 75.0%" in err
    other = write("elsewhere/ip-ranges.json", aws_doc(1767225601, OLD))
    code, _, err = run_cli("fetch", f"aws:service=EC2,from={other}")
    assert code == 0, err


def test_the_baseline_lives_in_the_cache_dir(run_cli: RunCli, mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "my-cache"
    assert fetch(run_cli, "--cache-dir", str(cache))[0] == 0
    kept = list((cache / "mirrors").iterdir())
    assert len(kept) == 1
    header = json.loads(kept[0].read_bytes().split(b"\n", 1)[0])
    assert header["path"] == str(mirror)
    # a damaged baseline counts as none: the run passes and writes a good one again
    kept[0].write_bytes(kept[0].read_bytes()[:-5])
    mirror.write_text(aws_doc(1767225601, OLD))
    assert fetch(run_cli, "--cache-dir", str(cache))[0] == 0
    mirror.write_text(aws_doc(1767225602, OLD[:1]))
    assert fetch(run_cli, "--cache-dir", str(cache))[0] == 2


@pytest.mark.skipif(
    not (CORPUS / "aws_ip-ranges_2021-07-28.json").is_file()
    or not (CORPUS / "aws_ip-ranges_2026-08.json").is_file(),
    reason=f"the public feed corpus is not at {CORPUS}",
)
def test_real_aws_feeds_swapped_from_2026_to_2021(run_cli: RunCli, write: WriteFile) -> None:
    path = write("mirror/ip-ranges.json", (CORPUS / "aws_ip-ranges_2026-08.json").read_bytes())
    write("catalog.yaml", f"providers:\n  aws:\n    url: {path}\n")
    code, out, err = fetch(run_cli)
    assert code == 0, err
    path.write_bytes((CORPUS / "aws_ip-ranges_2021-07-28.json").read_bytes())
    code, out, err = fetch(run_cli)
    assert code == 2
    assert out == ""
    assert "shrank by" in err and "since the last accepted copy" in err
