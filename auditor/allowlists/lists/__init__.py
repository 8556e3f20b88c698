"""Address-list readers: plain text, YAML and JSON lists, ipset save files."""
