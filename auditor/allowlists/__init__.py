"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import (  # noqa: F401  (registration)
    cloud,
    exchange,
    hostfw,
    iptables,
    nftables,
    postfix,
    webserver,
)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for
from auditor.allowlists.lists import (  # noqa: F401  (registration)
    ipset_save,
    json_list,
    text,
    yaml_list,
)

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
