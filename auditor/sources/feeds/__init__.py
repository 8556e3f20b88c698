"""One module per feed format; importing this package registers every parser."""

from auditor.sources.feeds import (
    atlassian,
    aws,
    azure,
    datadog,
    fastly,
    github,
    google,
    json_feed,
    m365,
    okta,
    oracle,
    stripe,
    text,
    zscaler,
)

__all__ = [
    "atlassian",
    "aws",
    "azure",
    "datadog",
    "fastly",
    "github",
    "google",
    "json_feed",
    "m365",
    "okta",
    "oracle",
    "stripe",
    "text",
    "zscaler",
]
