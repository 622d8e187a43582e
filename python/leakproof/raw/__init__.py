"""Raw files: split into parsable and rejected lines (strict RFC 4180), and the readers the dbt
models read them through."""

from leakproof.raw._readers import FILE_COLUMNS, REJECTED_COLUMNS, prepare_raw_files, quoted
from leakproof.raw._split import REASONS, Rejected, Split, split_lines

__all__ = [
    "FILE_COLUMNS",
    "REASONS",
    "REJECTED_COLUMNS",
    "Rejected",
    "Split",
    "prepare_raw_files",
    "quoted",
    "split_lines",
]
