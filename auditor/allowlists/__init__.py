"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import (  # noqa: F401  (registration)
    cloud,
    hostfw,
    iptables,
    nftables,
    webserver,
)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for
from auditor.allowlists.lists import (  # noqa: F401  (registration)
    ipset_save,
    json_list,
    text,
    yaml_list,
)
from auditor.allowlists.mail import (  # noqa: F401  (registration)
    exchange_connector,
    postconf,
    postfix_cidr,
    postfix_main_cf,
    postfix_mynetworks,
)

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
