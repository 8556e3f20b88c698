"""Firewall readers: iptables-save exports, ufw status output, firewalld zone files."""
