"""The one HTTP session factory."""

from __future__ import annotations

import requests

import auditor
from auditor.net.options import NetOptions

USER_AGENT = f"allowlist-auditor/{auditor.__version__} python-requests/{requests.__version__}"


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
    user_agent = options.user_agent if options.user_agent is not None else USER_AGENT
    session.headers["User-Agent"] = user_agent
    session.headers["Accept-Encoding"] = "gzip"
    session.verify = options.ca_bundle or True
    session.trust_env = True
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
