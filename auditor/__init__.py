"""allowlist-auditor: compare the ranges a provider sends from with what an allowlist allows."""

__version__ = "0.1.0"
