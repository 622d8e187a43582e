"""The declaration as the package sees it: frozen dataclasses, the vocabulary of roles and rules,
and the names every table of a use case derives from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Column roles. Feature roles reach the model; treatment / segment / spend are features with an
# extra meaning for analytics and the what-if engine. Blocked roles never reach a feature table.
ROLES = (
    "feature",
    "id",
    "target",
    "post_outcome",
    "target_derived",
    "time",
    "treatment",
    "segment",
    "spend",
    "ignore",
)
FEATURE_ROLES = frozenset({"feature", "treatment", "segment", "spend"})
BLOCKED_ROLES = frozenset({"target", "post_outcome", "target_derived"})
DATA_TYPES = ("varchar", "integer", "bigint", "double", "boolean", "date", "timestamp")
NUMERIC_TYPES = frozenset({"integer", "bigint", "double"})
COLUMN_RULES = frozenset({"required", "min", "max", "accepted_values", "aliases", "unknown"})
TABLE_KEYS = frozenset(
    {
        "file",
        "scoring_file",
        "format",
        "delimiter",
        "quote",
        "escape",
        "encoding",
        "header",
        "decimal",
    }
)
USE_CASE_KEYS = {
    "grain",
    "target",
    "split",
    "prepare",
    "segments",
    "derived",
    "aggregates",
    "target_encodings",
    "analytics",
    "what_if",
    "model",
    "gates",
    "audit",
    "targeting",
    "truth",
}
SPLIT_METHODS = ("stratified", "time", "grouped")
AGGREGATE_STATISTICS = ("mean", "share")
SPLITS = ("train", "test", "score")


# SQL keywords a snake_case name may not be (DuckDB's reserved and type-function keywords): such
# a column gets a trailing underscore (default -> default_), so generated SQL needs no quoting.
RESERVED_WORDS = frozenset(
    {
        "all",
        "analyse",
        "analyze",
        "and",
        "anti",
        "any",
        "array",
        "as",
        "asc",
        "asof",
        "asymmetric",
        "at",
        "authorization",
        "binary",
        "both",
        "by",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "columns",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "default",
        "deferrable",
        "desc",
        "describe",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "generated",
        "glob",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lambda",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "map",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "pivot",
        "pivot_longer",
        "pivot_wider",
        "placing",
        "positional",
        "primary",
        "qualify",
        "references",
        "returning",
        "right",
        "select",
        "semi",
        "show",
        "similar",
        "some",
        "struct",
        "summarize",
        "symmetric",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "try_cast",
        "tuple",
        "union",
        "unique",
        "unpack",
        "unpivot",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    }
)


def snake_case(name: str) -> str:
    """CamelCase / spaced raw names to snake_case: CustomerID -> customer_id, AdSpend -> ad_spend;
    an SQL keyword gets a trailing underscore (default -> default_). The same rule as the dbt
    macro leakproof_snake_case (tested to agree)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)
    snake = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    return f"{snake}_" if snake in RESERVED_WORDS else snake


@dataclass(frozen=True)
class Column:
    """One column of the raw file: its header name, its snake_case name in every table, its
    type, role and validation rules."""

    name: str
    column: str
    data_type: str
    role: str
    description: str = ""
    required: bool = True
    min: float | None = None
    max: float | None = None
    accepted_values: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    unknown: str = "keep"

    @property
    def is_numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES


@dataclass(frozen=True)
class RawTable:
    """The raw table of the use case: its labelled rows (`file`) and, optionally, a batch of new
    rows to score (`scoring_file`: the same columns without the outcome columns; may be empty).
    Both are read with the same dialect."""

    name: str
    file: str
    scoring_file: str | None = None
    format: str = ""
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    decimal: str = "."
    description: str = ""

    def paths(self, raw_dir: Path | str, raw_format: str = "csv") -> dict[str, Path]:
        """{'labelled': path[, 'scoring': path]} in `raw_dir`: each file as written, or with
        `.<raw_format>` when it has no extension (so `raw_format: parquet` switches a whole
        directory of stems to Parquet)."""
        files = {"labelled": self.file, "scoring": self.scoring_file}
        return {
            role: Path(raw_dir)
            / (name if Path(name).suffix else f"{name}.{self.format or raw_format}")
            for role, name in files.items()
            if name
        }

    def file_format(self, raw_format: str = "csv") -> str:
        suffix = Path(self.file).suffix.lstrip(".").lower()
        return self.format or (suffix if suffix in ("csv", "parquet") else raw_format)


@dataclass(frozen=True)
class Split:
    method: str = "stratified"
    test_fraction: float = 0.2
    seed: int = 42
    column: str | None = None
    test_periods: int = 1
    folds: int = 5
    fold_group: str | None = None


@dataclass(frozen=True)
class Band:
    label: str
    up_to: float | None


@dataclass(frozen=True)
class WhatIf:
    """The treatments the what-if engine varies, and how the historical assignment was made:
    `known_probabilities` None = estimated; {} = uniform over the arms; else arm -> probability."""

    treatments: tuple[str, ...]
    follows: dict[str, str] = field(default_factory=dict)
    support_segments: tuple[str, ...] = ()
    min_support: int = 20
    in_support_only: bool = False
    summary_segments: dict[str, str] = field(default_factory=dict)
    known_probabilities: dict[str, float] | None = None
    covariates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Truth:
    """A ground-truth sidecar (generated data only): read by evaluation, never by training."""

    file: str
    id: tuple[str, ...]
    probability: str
    arm_probability: str | None = None
    propensity: str | None = None


@dataclass(frozen=True)
class Declaration:
    """One use case, as declared in `use_cases/<name>.yml`."""

    name: str
    path: Path
    description: str
    table: RawTable
    columns: tuple[Column, ...]
    grain: tuple[str, ...]
    target: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    split: Split
    impute: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    outliers: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    segments: dict[str, tuple[str, tuple[Band, ...]]] = field(default_factory=dict)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)
    aggregates: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_encodings: dict[str, dict[str, Any]] = field(default_factory=dict)
    dimensions: tuple[tuple[str, str | None], ...] = ()
    spend: str | None = None
    reallocate: tuple[str, ...] = ()
    reallocation_share: float | None = 0.2
    what_if: WhatIf | None = None
    truth: Truth | None = None
    model: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    targeting: dict[str, Any] = field(default_factory=dict)

    # ---- names of the use case's relations (the thin dbt files use the same ones)
    @property
    def feature_table(self) -> str:
        return f"ml_{self.name}_features"

    @property
    def prepared_table(self) -> str:
        return f"int_{self.name}__prepared"

    # ---- columns by meaning
    def column(self, name: str) -> Column:
        for column in self.columns:
            if name in (column.column, column.name):
                return column
        raise KeyError(name)

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The grain as it appears in the feature table (a row number when none is declared)."""
        return self.grain or ("source_row_number",)

    @property
    def blocked_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.role in BLOCKED_ROLES)

    @property
    def time_column(self) -> str | None:
        return self.split.column if self.split.method == "time" else None

    @property
    def raw_features(self) -> tuple[str, ...]:
        """Declared feature columns as the feature table names them (capped columns renamed)."""
        return tuple(
            f"{c.column}_capped" if c.column in self.outliers else c.column
            for c in self.columns
            if c.role in FEATURE_ROLES
        )

    @property
    def out_of_fold_encodings(self) -> tuple[str, ...]:
        return tuple(self.target_encodings)
