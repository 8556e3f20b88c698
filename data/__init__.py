"""Data shipped with the package: the provider catalog, the report schemas, the examples."""
