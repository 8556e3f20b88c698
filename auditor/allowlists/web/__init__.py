"""Web server readers: nginx and Apache access rules."""
