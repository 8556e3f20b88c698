"""Declared-side readers, one module per format, each registered under a kebab-case name."""

from auditor.allowlists import json_list, text, yaml_list  # noqa: F401  (registration)
from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
