"""Mail server readers: Postfix configuration and tables, Exchange receive connectors."""
