"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import (  # noqa: F401  (registration)
    cloud,
    exchange,
    hostfw,
    ipset,
    iptables,
    json_list,
    postfix,
    text,
    webserver,
    yaml_list,
)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for
from auditor.allowlists.nftables import nft_json, nft_text  # noqa: F401  (registration)

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
