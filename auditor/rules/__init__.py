"""Rule generators, one module per platform; :data:`GENERATORS` lists them."""

from auditor.rules.base import GENERATORS, Generator, RuleOptions, generator_for

__all__ = ["GENERATORS", "Generator", "RuleOptions", "generator_for"]
