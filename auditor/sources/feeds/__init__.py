"""One module per feed format; :data:`auditor.sources.base.PARSERS` lists them."""
