"""The serving copy: the BI-facing schemas of a checked build copied as plain tables into a
temporary file written with DuckDB storage version v1.4.0 (readable by the DuckDB 1.4 / 1.5
libraries BI drivers bundle), verified, fsynced and swapped in with `os.replace`."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from leakproof.publish._build import (
    BuildCheck,
    PublishError,
    PublishRefused,
    check_connection,
    open_warehouse,
    quote_identifier,
)

BI_SCHEMAS: tuple[str, ...] = ("marts", "features", "ml", "reference")
# dbt internals that live in a BI schema but are not for BI: the Python training output (BI reads
# the contracted ml_model_registry that wraps it).
EXCLUDED_RELATIONS: frozenset[str] = frozenset({"ml.ml_trained_models"})
STORAGE_VERSION = "v1.4.0"
# The DuckDB file header stores a storage version number after the "DUCK" magic; DuckDB 1.4 and
# 1.5 read files up to number 67 (what STORAGE_VERSION 'v1.4.0' writes); DuckDB 2.0 writes 999.
MAX_READABLE_HEADER_VERSION = 67
METADATA_TABLE = "_publish"


@dataclass(frozen=True)
class PublishResult:
    serving: Path
    row_counts: dict[str, int]
    model_ids: list[str]
    published_at: datetime
    seconds: float
    size_bytes: int
    build: BuildCheck | None  # None when published without the checks (--force)


@contextmanager
def _exclusive(serving: Path) -> Iterator[None]:
    """Hold `<serving>.lock` for one publish at a time (the kernel drops it if the process dies)."""
    lock = serving.with_name(serving.name + ".lock")
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise PublishRefused(
                "busy", f"another leakproof publish is writing {serving}; try again after it"
            ) from error
        yield
    finally:
        os.close(descriptor)


def header_version(path: Path) -> int:
    """The storage version number in a DuckDB file's header (after the 'DUCK' magic at byte 8)."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if header[8:12] != b"DUCK":
        raise PublishError(f"{path} is not a DuckDB database file")
    return int.from_bytes(header[12:20], "little")


def _source_relations(
    connection: duckdb.DuckDBPyConnection, schemas: tuple[str, ...], excluded: frozenset[str]
) -> list[tuple[str, str]]:
    """(schema, name) of every table and view of the BI-facing schemas in the attached `src`,
    less the `excluded` ('schema.name') internals."""
    placeholders = ", ".join("?" for _ in schemas)
    query = f"""
        select schema_name, table_name as name from duckdb_tables()
        where database_name = 'src' and schema_name in ({placeholders})
        union all
        select schema_name, view_name from duckdb_views()
        where database_name = 'src' and not internal and schema_name in ({placeholders})
        order by 1, 2
    """
    rows = connection.execute(query, [*schemas, *schemas]).fetchall()
    return [(schema, name) for schema, name in rows if f"{schema}.{name}" not in excluded]


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _copy(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    temporary: Path,
    schemas: tuple[str, ...],
    excluded: frozenset[str],
    published_at: datetime,
    build: BuildCheck | None,
) -> tuple[dict[str, int], list[str]]:
    """Copy the BI-facing relations of the warehouse attached as `src` into `temporary` in one
    transaction."""
    connection.execute(f"attach '{temporary}' as serving (storage_version '{STORAGE_VERSION}')")
    relations = _source_relations(connection, schemas, excluded)
    if not relations:
        raise PublishError(f"{warehouse} has no tables in the schemas {', '.join(schemas)}")
    row_counts: dict[str, int] = {}
    connection.execute("begin transaction")
    for schema in sorted({schema for schema, _ in relations}):
        connection.execute(f"create schema serving.{quote_identifier(schema)}")
    for schema, name in relations:
        qualified = f"{quote_identifier(schema)}.{quote_identifier(name)}"
        connection.execute(f"create table serving.{qualified} as from src.{qualified}")
        count = connection.execute(f"select count(*) from serving.{qualified}").fetchone()
        row_counts[f"{schema}.{name}"] = int(count[0]) if count else 0
    model_ids: list[str] = []
    if "ml.ml_model_registry" in row_counts:
        model_ids = [
            row[0]
            for row in connection.execute(
                "select distinct model_id from serving.ml.ml_model_registry order by 1"
            ).fetchall()
        ]
    connection.execute(
        f"""
        create table serving.main.{METADATA_TABLE} (
            published_at timestamp, source_file varchar, table_schema varchar,
            table_name varchar, row_count bigint, model_ids varchar, storage_version varchar,
            dbt_invocation_id varchar, checked boolean
        )
        """
    )
    connection.executemany(
        f"insert into serving.main.{METADATA_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                published_at.replace(tzinfo=None),
                str(warehouse),
                key.split(".", 1)[0],
                key.split(".", 1)[1],
                count,
                ",".join(model_ids),
                STORAGE_VERSION,
                build.invocation_id if build else None,
                build is not None,
            ]
            for key, count in row_counts.items()
        ],
    )
    connection.execute("commit")
    connection.execute("checkpoint serving")
    connection.execute("detach serving")
    return row_counts, model_ids


def verify(path: Path, row_counts: dict[str, int]) -> None:
    """Open `path` read-only and check every table's row count and the storage version."""
    version = header_version(path)
    if version > MAX_READABLE_HEADER_VERSION:
        raise PublishError(
            f"{path} has storage version number {version}; DuckDB 1.4 clients read <= "
            f"{MAX_READABLE_HEADER_VERSION}"
        )
    connection = duckdb.connect(str(path), read_only=True)
    try:
        for key, expected in row_counts.items():
            schema, name = key.split(".", 1)
            count = connection.execute(
                f"select count(*) from {quote_identifier(schema)}.{quote_identifier(name)}"
            ).fetchone()
            actual = int(count[0]) if count else -1
            if actual != expected:
                raise PublishError(f"{path}: {key} has {actual} rows, expected {expected}")
    finally:
        connection.close()


def publish(
    warehouse: Path,
    serving: Path,
    run_results: Path | None = None,
    schemas: tuple[str, ...] = BI_SCHEMAS,
    excluded: frozenset[str] = EXCLUDED_RELATIONS,
) -> PublishResult:
    """Copy the BI-facing schemas of `warehouse` (less the `excluded` internals) to `serving`,
    atomically.

    With `run_results`, refuse (PublishRefused, naming the reason) unless `warehouse` holds the
    complete, green `dbt build` it records; without it nothing is checked (`--force`). The checks
    run in the same read-only attach the tables are copied from, so no dbt command can write the
    warehouse in between. The copy goes to `<serving>.tmp`, is verified, fsynced and moved
    onto `serving` with `os.replace`; on any failure the temporary file is removed and the last
    good `serving` is left untouched. A temporary copy left by a killed publish is removed by the
    next one (one publish at a time holds `<serving>.lock`).
    """
    started = time.perf_counter()
    serving.parent.mkdir(parents=True, exist_ok=True)
    temporary = serving.with_name(serving.name + ".tmp")
    leftovers = (temporary, temporary.with_name(temporary.name + ".wal"))
    with _exclusive(serving):
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        published_at = datetime.now(UTC)
        try:
            with open_warehouse(warehouse) as connection:
                build = (
                    check_connection(connection, run_results) if run_results is not None else None
                )
                row_counts, model_ids = _copy(
                    connection,
                    warehouse.resolve(),
                    temporary,
                    schemas,
                    excluded,
                    published_at,
                    build,
                )
            verify(temporary, row_counts)
            _fsync(temporary)
            # A write-ahead log left by someone opening the old copy read-write would be
            # replayed onto the new file; readers open read-only and never write one.
            serving.with_name(serving.name + ".wal").unlink(missing_ok=True)
            os.replace(temporary, serving)
            _fsync(serving.parent)
        except BaseException:
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            raise
    return PublishResult(
        serving=serving,
        row_counts=row_counts,
        model_ids=model_ids,
        published_at=published_at,
        seconds=time.perf_counter() - started,
        size_bytes=serving.stat().st_size,
        build=build,
    )
