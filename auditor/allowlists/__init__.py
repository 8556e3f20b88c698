"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for
from auditor.allowlists.cloud import (  # noqa: F401  (registration)
    aws_network_acl,
    aws_prefix_list,
    aws_security_group,
    azure_nsg,
    gcp_firewall,
)
from auditor.allowlists.firewalls import (  # noqa: F401  (registration)
    firewalld_zone,
    iptables_save,
    ufw_status,
)
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
from auditor.allowlists.nftables import nft_json, nft_text  # noqa: F401  (registration)
from auditor.allowlists.web import apache_conf, nginx_conf  # noqa: F401  (registration)

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
