"""Every plugin of every family, one line each: readers, reports, rule platforms, feed parsers.

The registries hold lazy ``"module:Class"`` references, so this module imports nothing but
:mod:`auditor.registry`: help text, shell completion and ``auditor formats`` list the names
from here without importing a plugin. Adding a format is its module plus one line here. Each
family's base module binds its registry with the family's type (``allowlists.READERS`` is a
``Registry[Reader]``); a table is listed in the order help shows it, the default first.
"""

from __future__ import annotations

from typing import Any

from auditor.registry import Registry

READERS: Registry[Any] = Registry(
    "input format",
    {
        "apache": "auditor.allowlists.web.apache_conf:ApacheReader",
        "asa": "auditor.allowlists.appliances.fronts:AsaReader",
        "aws-network-acl": "auditor.allowlists.cloud.aws_network_acl:AwsNetworkAclReader",
        "aws-prefix-list": "auditor.allowlists.cloud.aws_prefix_list:AwsPrefixListReader",
        "aws-security-group": "auditor.allowlists.cloud.aws_security_group:AwsSecurityGroupReader",
        "azure-nsg": "auditor.allowlists.cloud.azure_nsg:AzureNsgReader",
        "exchange-connector": "auditor.allowlists.mail.exchange_connector:ExchangeConnectorReader",
        "firewalld-zone": "auditor.allowlists.firewalls.firewalld_zone:FirewalldZoneReader",
        "fortios": "auditor.allowlists.appliances.fronts:FortiosReader",
        "gcp-firewall": "auditor.allowlists.cloud.gcp_firewall:GcpFirewallReader",
        "ipset": "auditor.allowlists.lists.ipset_save:IpsetReader",
        "ios": "auditor.allowlists.appliances.fronts:IosReader",
        "iptables-save": "auditor.allowlists.firewalls.iptables_save:IptablesReader",
        "json": "auditor.allowlists.lists.json_list:JsonReader",
        "junos": "auditor.allowlists.appliances.fronts:JunosReader",
        "m365-connector": "auditor.allowlists.mail.m365_connector:M365ConnectorReader",
        "mikrotik": "auditor.allowlists.appliances.fronts:MikrotikReader",
        "nftables": "auditor.allowlists.nftables.nft_text:NftablesReader",
        "nftables-json": "auditor.allowlists.nftables.nft_json:NftablesJsonReader",
        "nginx": "auditor.allowlists.web.nginx_conf:NginxReader",
        "panos": "auditor.allowlists.appliances.fronts:PanosReader",
        "pfsense": "auditor.allowlists.appliances.fronts:PfsenseReader",
        "postconf": "auditor.allowlists.mail.postconf:PostconfReader",
        "postfix-cidr": "auditor.allowlists.mail.postfix_cidr:PostfixCidrReader",
        "postfix-main-cf": "auditor.allowlists.mail.postfix_main_cf:PostfixMainCfReader",
        "postfix-mynetworks": "auditor.allowlists.mail.postfix_mynetworks:PostfixMynetworksReader",
        "text": "auditor.allowlists.lists.text:TextReader",
        "ufw-status": "auditor.allowlists.firewalls.ufw_status:UfwStatusReader",
        "windows-firewall": "auditor.allowlists.appliances.fronts:WindowsFirewallReader",
        "yaml": "auditor.allowlists.lists.yaml_list:YamlReader",
    },
    {
        "nft": "nftables",
        "iptables": "iptables-save",
        "ip6tables-save": "iptables-save",
        "pan-os": "panos",
        "paloalto": "panos",
        "opnsense": "pfsense",
        "pfsense-config": "pfsense",
        "fortigate": "fortios",
        "cisco-ios": "ios",
        "ios-xe": "ios",
        "ios-xr": "ios",
        "nx-os": "ios",
        "nxos": "ios",
        "routeros": "mikrotik",
        "cisco-asa": "asa",
        "juniper": "junos",
    },
)
"""The declared-side readers (``--format``, ``file+FORMAT:PATH``): ``allowlists.READERS``."""

REPORTS: Registry[Any] = Registry(
    "report",
    {
        "text": "auditor.reports.text:TextReport",
        "json": "auditor.reports.json_report:JsonReport",
        "csv": "auditor.reports.csv_report:CsvReport",
        "md": "auditor.reports.markdown:MarkdownReport",
        "cidr": "auditor.reports.cidr:CidrReport",
        "html": "auditor.reports.html:HtmlReport",
    },
    ignore_case=False,
)
"""The reports of ``diff --output``: ``reports.REPORTS``."""

GENERATORS: Registry[Any] = Registry(
    "rule platform",
    {
        "apache": "auditor.rules.apache:ApacheGenerator",
        "asa": "auditor.rules.asa:AsaGenerator",
        "aws": "auditor.rules.aws:AwsGenerator",
        "azure": "auditor.rules.azure:AzureGenerator",
        "exchange": "auditor.rules.exchange:ExchangeGenerator",
        "firewalld": "auditor.rules.firewalld:FirewalldGenerator",
        "fortios": "auditor.rules.fortios:FortiosGenerator",
        "gcloud": "auditor.rules.gcloud:GcloudGenerator",
        "haproxy": "auditor.rules.haproxy:HaproxyGenerator",
        "ios": "auditor.rules.ios:IosGenerator",
        "ipset": "auditor.rules.ipset:IpsetGenerator",
        "iptables": "auditor.rules.iptables:IptablesGenerator",
        "junos": "auditor.rules.junos:JunosGenerator",
        "k8s": "auditor.rules.k8s:K8sGenerator",
        "m365": "auditor.rules.m365:M365Generator",
        "mikrotik": "auditor.rules.mikrotik:MikrotikGenerator",
        "nftables": "auditor.rules.nftables:NftablesGenerator",
        "nginx": "auditor.rules.nginx:NginxGenerator",
        "panos": "auditor.rules.panos:PanosGenerator",
        "pfsense": "auditor.rules.pfsense:PfsenseGenerator",
        "postfix": "auditor.rules.postfix:PostfixGenerator",
        "terraform": "auditor.rules.terraform:TerraformGenerator",
        "terraform-aws": "auditor.rules.terraform:TerraformAwsGenerator",
        "terraform-azure": "auditor.rules.terraform:TerraformAzureGenerator",
        "terraform-gcp": "auditor.rules.terraform:TerraformGcpGenerator",
        "ufw": "auditor.rules.ufw:UfwGenerator",
        "windows": "auditor.rules.windows:WindowsGenerator",
    },
    {
        "nft": "nftables",
        "ip6tables": "iptables",
        "opnsense": "pfsense",
        "kubernetes": "k8s",
        "routeros": "mikrotik",
        "pan-os": "panos",
        "az": "azure",
        "gcp": "gcloud",
        "exchange-online": "m365",
    },
)
"""The rule platforms of ``--rules`` and ``auditor rules``: ``rules.GENERATORS``."""

PLATFORM_OF_FORMAT: dict[str, str] = {
    "apache": "apache",
    "asa": "asa",
    "aws-security-group": "aws",
    "azure-nsg": "azure",
    "exchange-connector": "exchange",
    "firewalld-zone": "firewalld",
    "fortios": "fortios",
    "gcp-firewall": "gcloud",
    "ipset": "ipset",
    "ios": "ios",
    "iptables-save": "iptables",
    "junos": "junos",
    "m365-connector": "m365",
    "mikrotik": "mikrotik",
    "nftables": "nftables",
    "nftables-json": "nftables",
    "nginx": "nginx",
    "panos": "panos",
    "pfsense": "pfsense",
    "postconf": "postfix",
    "postfix-cidr": "postfix",
    "postfix-main-cf": "postfix",
    "postfix-mynetworks": "postfix",
    "ufw-status": "ufw",
    "windows-firewall": "windows",
}
"""``--rules auto``: the rule platform for a declared source of each input format."""

PARSERS: Registry[Any] = Registry(
    "feed parser",
    {
        "atlassian": "auditor.sources.feeds.atlassian:AtlassianParser",
        "aws": "auditor.sources.feeds.aws:AwsParser",
        "azure": "auditor.sources.feeds.azure:AzureParser",
        "datadog": "auditor.sources.feeds.datadog:DatadogParser",
        "fastly": "auditor.sources.feeds.fastly:FastlyParser",
        "github": "auditor.sources.feeds.github:GithubParser",
        "google": "auditor.sources.feeds.google:GoogleParser",
        "json": "auditor.sources.feeds.json_feed:JsonParser",
        "m365": "auditor.sources.feeds.m365:M365Parser",
        "okta": "auditor.sources.feeds.okta:OktaParser",
        "oracle": "auditor.sources.feeds.oracle:OracleParser",
        "stripe": "auditor.sources.feeds.stripe:StripeParser",
        "text": "auditor.sources.feeds.text:TextParser",
        "zscaler": "auditor.sources.feeds.zscaler:ZscalerParser",
    },
    ignore_case=False,
)
"""The feed parsers a catalog's providers name: ``sources.base.PARSERS``."""

LISTINGS: tuple[str, ...] = ("cidr", "json", "csv")
"""What ``fetch --output`` prints, the default first (one renderer,
:func:`auditor.reports.listing.render`, so names, not classes)."""
