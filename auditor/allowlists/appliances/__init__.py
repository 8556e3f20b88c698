"""Network appliance and Windows host firewall readers: Cisco ASA and IOS, JunOS, PAN-OS,
FortiOS, pfSense/OPNsense, MikroTik RouterOS and Windows Defender Firewall exports."""
