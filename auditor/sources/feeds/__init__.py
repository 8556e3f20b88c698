"""One module per feed format; importing this package registers every parser."""

from auditor.sources.feeds import aws

__all__ = ["aws"]
