"""Declared-side readers, one module per format; :data:`READERS` lists them by kebab-case name."""

from auditor.allowlists.base import READERS, ReadContext, Reader, ReaderError, reader_for

__all__ = ["READERS", "ReadContext", "Reader", "ReaderError", "reader_for"]
