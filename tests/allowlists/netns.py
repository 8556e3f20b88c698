"""The kernel as the oracle for firewall readers: load a ruleset in a throwaway network
namespace and try a TCP connection from every sample source address.

Two fresh namespaces per call, joined by a veth pair. The *server* namespace holds the ruleset,
one address per family (:data:`SERVER`) and a listener on the service port; the *client*
namespace holds every sample source address on its end of the veth. Each source then connects
to the server, bound to that source address, so the server's INPUT hook sees it arriving on the
veth as it would from another host (``-i lo`` rules do not apply, as for a remote sender).

Why it is built this way:

- Routes are on-link defaults (``default dev <veth>``) and every neighbour entry is static, so
  the server answers any source address, and a ruleset that drops ICMPv6 (so neighbour
  discovery) cannot make an accepted SYN look dropped: only the rules under test decide.
- Connects run at once on non-blocking sockets with one deadline, so 200 addresses take about
  the timeout, not 200 times it.
- ``connected`` means the three-way handshake completed from the client's side: the SYN passed
  the server's input path and the SYN-ACK its output path. Rulesets under test keep OUTPUT open
  (or allow ESTABLISHED replies), so this is the input verdict.
- Namespaces and the listener are removed in ``finally``, whatever happens.

Use :func:`unavailable` (or :func:`require` in a test) first: it names what is missing (root,
``ip netns``, a loader, ``ipset``) so a test can skip with that reason.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

Loader = Literal["iptables", "nft"]

SERVER: Mapping[int, str] = {4: "10.255.0.1", 6: "fd00:255::1"}
"""The server's address per family (the ``--to`` of a reader evaluating ``-d``)."""

SERVER_MAC = "02:00:00:00:0a:01"
CLIENT_MAC = "02:00:00:00:0a:02"
SERVER_DEV = "vsrv"
CLIENT_DEV = "vcli"

TOOLS: Mapping[str, tuple[str, ...]] = {
    "iptables": ("ip", "sysctl", "iptables-restore", "ip6tables-restore"),
    "nft": ("ip", "sysctl", "nft"),
}
RESTORE = {4: "iptables-restore", 6: "ip6tables-restore"}

# Addresses that cannot be a packet's source on the wire (RFC 6890 and the kernel's martian
# checks: ip_route_input_slow, ip6_rcv_core), or that the harness itself uses.
UNUSABLE: Mapping[int, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = {
    4: tuple(
        ipaddress.IPv4Network(n)
        for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32")
    ),
    6: tuple(
        ipaddress.IPv6Network(n)
        for n in ("::/96", "::ffff:0:0/96", "fe80::/10", "ff00::/8", "fec0::/10")
    ),
}

_COUNTER = itertools.count()
_DEADLINE = 60.0  # seconds for any one command: a hung tool fails the test instead of the run


class RulesetLoadError(Exception):
    """The kernel (or the loader) refused the ruleset; the message is the loader's own."""


# --- availability -------------------------------------------------------------------------------


@functools.cache
def unavailable(loader: Loader = "iptables", ipset: bool = False) -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    tools = (*TOOLS[loader], *(("ipset",) if ipset else ()))
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"not installed: {', '.join(missing)}"
    name = f"audprobe{os.getpid()}"
    probe = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["ip", "netns", "add", name], capture_output=True, text=True, timeout=_DEADLINE
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=_DEADLINE)
    return None


def require(loader: Loader = "iptables", ipset: bool = False) -> None:
    """Skip the calling test, with the reason, when the harness cannot run."""
    reason = unavailable(loader, ipset)
    if reason is not None:
        pytest.skip(reason)


# --- running things in namespaces ---------------------------------------------------------------


def _run(argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv built here, never through a shell
        list(argv), input=stdin, capture_output=True, text=True, timeout=_DEADLINE
    )


def _must(argv: Sequence[str], stdin: str | None = None) -> str:
    done = _run(argv, stdin)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _in(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@contextmanager
def namespace_pair() -> Iterator[tuple[str, str]]:
    """Two fresh namespaces (server, client) joined by a veth pair, removed on exit."""
    tag = f"aud{os.getpid()}n{next(_COUNTER)}{secrets.token_hex(2)}"
    server, client = f"{tag}-srv", f"{tag}-cli"
    created: list[str] = []
    try:
        for ns in (server, client):
            _must(["ip", "netns", "add", ns])
            created.append(ns)
            _must(["ip", "-n", ns, "link", "set", "lo", "up"])
        _must(
            ["ip", "-n", server, "link", "add", SERVER_DEV, "address", SERVER_MAC, "type", "veth"]
            + ["peer", "name", CLIENT_DEV, "address", CLIENT_MAC, "netns", client]
        )
        for ns, dev in ((server, SERVER_DEV), (client, CLIENT_DEV)):
            # no duplicate address detection: addresses are usable at once
            _must(_in(ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0"))
            _must(["ip", "-n", ns, "link", "set", dev, "up"])
            _must(["ip", "-n", ns, "route", "add", "default", "dev", dev])
            _must(["ip", "-n", ns, "-6", "route", "add", "default", "dev", dev])
        yield server, client
    finally:
        for ns in reversed(created):
            _run(["ip", "netns", "del", ns])


def _setup_addresses(
    server: str, client: str, sources: Sequence[str], addresses: Mapping[int, str]
) -> None:
    # `ip -batch` lines take no -4/-6: the family follows from each address
    srv = [f"address add {addresses[4]}/32 dev {SERVER_DEV}"]
    srv.append(f"address add {addresses[6]}/128 dev {SERVER_DEV} nodad")
    cli = [
        f"neigh replace {addr} lladdr {SERVER_MAC} dev {CLIENT_DEV} nud permanent"
        for addr in addresses.values()
    ]
    for text in sources:
        v6 = ipaddress.ip_address(text).version == 6
        cli.append(
            f"address add {text}/{128 if v6 else 32} dev {CLIENT_DEV}{' nodad' if v6 else ''}"
        )
        srv.append(f"neigh replace {text} lladdr {CLIENT_MAC} dev {SERVER_DEV} nud permanent")
    _must(["ip", "-n", server, "-batch", "-"], "\n".join(srv) + "\n")
    _must(["ip", "-n", client, "-batch", "-"], "\n".join(cli) + "\n")


def _load(
    server: str,
    family_files: Mapping[int, Path | None],
    loader: Loader,
    ipset: Path | None,
    noflush: bool = False,
) -> None:
    def load(argv: list[str], path: Path) -> None:
        done = _run(_in(server, *argv), path.read_text(encoding="utf-8"))
        if done.returncode != 0:
            raise RulesetLoadError(f"{' '.join(argv)} < {path.name}: {done.stderr.strip()}")

    if ipset is not None:
        load(["ipset", "restore"], ipset)
    loaded: set[Path] = set()
    for family, path in sorted(family_files.items()):
        if path is None or path in loaded:
            continue
        loaded.add(path)
        if loader == "iptables":
            load([RESTORE[family], *(["--noflush"] if noflush else [])], path)
        else:
            # nft reads the file itself, so relative includes resolve next to it
            done = _run(_in(server, "nft", "-f", str(path)))
            if done.returncode != 0:
                raise RulesetLoadError(f"nft -f {path.name}: {done.stderr.strip()}")


# The listener and the connector run inside the namespaces as `python3 -c`: small enough to read
# here, and a child process is the only way into a namespace before Python 3.12's os.setns.
_LISTENER = r"""
import socket, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(4096)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""

_CONNECTOR = r"""
import errno, json, selectors, socket, sys, time
job = json.load(sys.stdin)
port, timeout, targets = job["port"], job["timeout"], job["targets"]
result = {}
sel = selectors.DefaultSelector()
for src in job["sources"]:
    v6 = ":" in src
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    rc = s.connect_ex((targets["6" if v6 else "4"], port))
    if rc in (0, errno.EINPROGRESS):
        sel.register(s, selectors.EVENT_WRITE, src)
    else:
        result[src] = False
        s.close()
deadline = time.monotonic() + timeout
while sel.get_map():
    left = deadline - time.monotonic()
    if left <= 0:
        break
    for key, _ in sel.select(left):
        s = key.fileobj
        result[key.data] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        sel.unregister(s)
        s.close()
for key in list(sel.get_map().values()):
    result[key.data] = False
    key.fileobj.close()
json.dump(result, sys.stdout)
"""

_BATCH = 400  # sockets open at once, well under the default limit of 1024 descriptors


def kernel_verdicts(
    family_files: Mapping[int, Path | None],
    loader: Loader,
    port: int,
    sources: Sequence[str],
    ipset_file: Path | None = None,
    *,
    server: Mapping[int, str] = SERVER,
    timeout: float = 0.3,
    then: Mapping[int, Path | None] | None = None,
) -> dict[str, bool]:
    """Load the ruleset in a fresh server namespace and connect to ``port`` from every source.

    ``family_files``: for ``iptables``, the file for ``iptables-restore`` under 4 and for
    ``ip6tables-restore`` under 6 (None: that family has no rules, so everything passes); for
    ``nft``, files for ``nft -f`` (one ``inet`` file may stand under both keys; it is loaded
    once). ``ipset_file`` is given to ``ipset restore`` first. ``server`` replaces :data:`SERVER`
    for the families it names (rulesets written for one host's address). Returns source ->
    connected. ``then``: files loaded after the ruleset, as ``family_files`` but with
    ``--noflush`` for iptables (rules that add to the ruleset, as generated rules do).
    Raises RulesetLoadError when the kernel refuses the ruleset.
    """
    wanted = list(dict.fromkeys(str(ipaddress.ip_address(s)) for s in sources))
    addresses = {**SERVER, **server}
    with namespace_pair() as (srv_ns, client):
        _setup_addresses(srv_ns, client, wanted, addresses)
        _load(srv_ns, family_files, loader, ipset_file)
        if then:
            _load(srv_ns, then, loader, None, noflush=True)
        listener = subprocess.Popen(  # noqa: S603 - fixed argv
            _in(srv_ns, sys.executable, "-c", _LISTENER, str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout is not None
            ready = listener.stdout.readline().strip()
            if ready != "ready":
                listener.kill()
                raise RuntimeError(f"the listener did not start: {listener.communicate()[1]}")
            result: dict[str, bool] = {}
            targets = {str(f): a for f, a in addresses.items()}
            for i in range(0, len(wanted), _BATCH):
                job = {
                    "port": port,
                    "timeout": timeout,
                    "targets": targets,
                    "sources": wanted[i : i + _BATCH],
                }
                out = _must(_in(client, sys.executable, "-c", _CONNECTOR), json.dumps(job))
                result.update(json.loads(out))
        finally:
            listener.kill()
            listener.wait(timeout=_DEADLINE)
            if listener.stdout is not None:
                listener.stdout.close()
            if listener.stderr is not None:
                listener.stderr.close()
    return {s: result[str(ipaddress.ip_address(s))] for s in sources}


def restore_test(path: Path, family: int, ipset_file: Path | None = None) -> str | None:
    """``iptables-restore --test`` (or ip6tables-) in a fresh namespace, after ``ipset restore``
    of ``ipset_file`` (rules naming a set need it to exist): the refusal, or None."""
    with namespace_pair() as (server, _):
        if ipset_file is not None:
            _must(_in(server, "ipset", "restore"), ipset_file.read_text(encoding="utf-8"))
        done = _run(_in(server, RESTORE[family], "--test"), path.read_text(encoding="utf-8"))
    if done.returncode != 0:
        return done.stderr.strip() or f"exit code {done.returncode}"
    return None


# --- sample addresses ---------------------------------------------------------------------------

_V4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_V6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::" + _V4 + ")?"
_ITEM = re.compile(
    rf"(?<![\w.:])(?P<a>{_V6}|{_V4})(?:/(?P<p>{_V4}|\d{{1,3}})|-(?P<b>{_V6}|{_V4}))?(?![\w:])"
)


def mentioned(text: str, family: int) -> list[tuple[int, int]]:
    """Every address, network (``/len`` or ``/mask``) and ``a-b`` range of ``family`` the text
    names, as (first, last) integers."""
    out = []
    for m in _ITEM.finditer(text):
        try:
            first = ipaddress.ip_address(m["a"])
            if m["b"]:
                last = ipaddress.ip_address(m["b"])
                if last.version != first.version:
                    continue
                lo, hi = int(first), int(last)
            else:
                net = ipaddress.ip_network(f"{m['a']}/{m['p']}" if m["p"] else m["a"], strict=False)
                lo, hi = int(net.network_address), int(net.broadcast_address)
        except ValueError:
            continue
        if first.version == family and lo <= hi:
            out.append((lo, hi))
    return out


def usable(address: str) -> bool:
    """Whether the address can be a remote sender's source (and is not the harness's own)."""
    ip = ipaddress.ip_address(address)
    if address in SERVER.values() or ip == ipaddress.ip_address(SERVER[ip.version]):
        return False
    return not any(ip in net for net in UNUSABLE[ip.version])


def sample_addresses(
    ruleset_text: str, family: int, *, random_count: int = 64, seed: int = 0
) -> list[str]:
    """Source addresses that tell a ruleset's verdicts apart.

    For every address, network and range the text names: its first and last address, the
    addresses just outside it, its middle and one random address inside; plus
    ``random_count`` random addresses of the family (seeded, so a failure reproduces).
    Addresses that cannot be a source are left out (see :data:`UNUSABLE`). Sorted, no
    duplicates.
    """
    bits = 32 if family == 4 else 128
    top = (1 << bits) - 1
    rng = random.Random(f"{seed}:{family}")  # noqa: S311 - reproducible samples, not secrets
    points: set[int] = set()
    for lo, hi in mentioned(ruleset_text, family):
        points.update({lo, hi, (lo + hi) // 2, rng.randint(lo, hi)})
        if lo > 0:
            points.add(lo - 1)
        if hi < top:
            points.add(hi + 1)
    for _ in range(random_count):
        if family == 4:
            points.add(rng.randint(0, top))
        else:
            # in 2000::/8, 2a00::/8 (global unicast) and fd00::/8 (unique local)
            points.add(rng.choice((0x20, 0x2A, 0xFD)) << 120 | rng.getrandbits(120))
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    texts = [str(make(p)) for p in sorted(points)]
    return [t for t in texts if usable(t)]
