"""The ruleset intermediate form and the one engine that evaluates it."""
