"""How feeds are fetched (:class:`NetOptions`) and the one HTTP session factory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

import auditor

USER_AGENT = f"allowlist-auditor/{auditor.__version__} python-requests/{requests.__version__}"


@dataclass(frozen=True)
class NetOptions:
    """How feeds are fetched. There is deliberately no switch that disables TLS verification."""

    timeout: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 256 * 1024 * 1024
    ca_bundle: str | None = None
    cache_dir: Path | None = None
    offline: bool = False
    retries: int = 3
    max_retry_after: float = 30.0
    user_agent: str = USER_AGENT


class _NoRedirectSession(requests.Session):
    """A session that never follows a redirect and never reads a 3xx body.

    With ``allow_redirects=False`` requests still computes the next hop for ``Response.next``,
    and that reads the whole 3xx body first, with no size cap and no deadline
    (``Session.resolve_redirects``). With no redirect target there is nothing to compute.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def make_session(options: NetOptions) -> requests.Session:
    """The one session factory: User-Agent, verification, proxies from the environment.

    ``trust_env`` stays on so ``HTTPS_PROXY``/``NO_PROXY`` work as in every other tool on the
    host. The session never follows redirects (a 3xx comes back as it is): :class:`Fetcher`
    follows them itself so it can refuse an https->http hop, which requests would take. The
    adapters do no retries of their own (``Fetcher`` does, within its deadline).
    """
    session = _NoRedirectSession()
    session.headers["User-Agent"] = options.user_agent
    session.headers["Accept-Encoding"] = "gzip"
    session.verify = options.ca_bundle or True
    session.trust_env = True
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
