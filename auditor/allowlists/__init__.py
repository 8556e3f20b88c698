"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import (  # noqa: F401  (registration)
    cloud,
    exchange,
    ipset,
    json_list,
    nftables,
    postfix,
    text,
    webserver,
    yaml_list,
)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for
from auditor.allowlists.firewalls import (  # noqa: F401  (registration)
    firewalld_zone,
    iptables_save,
    ufw_status,
)

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
