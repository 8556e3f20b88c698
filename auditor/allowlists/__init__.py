"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import (  # noqa: F401  (registration)
    cloud,
    exchange,
    hostfw,
    ipset,
    iptables,
    json_list,
    nftables,
    postfix,
    text,
    webserver,
    yaml_list,
)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
