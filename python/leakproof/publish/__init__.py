"""Publish the BI-facing tables of a complete, green `dbt build` as a read-only serving copy.

dbt writes its working DuckDB file; BI tools never open it. `publish` refuses (REFUSALS names every
reason) unless the last run results are from a `dbt build` of the whole project in which every
model, seed, snapshot and test of the manifest ran and none errored, failed or was skipped, and
the build marker inside the warehouse (macros/publish/build_marker.sql) says that very build
finished: a build killed half way leaves the previous green run_results.json behind, but not its
marker. Then it copies the BI-facing schemas (marts, features, ml, and reference if present) as
plain tables into a temporary file written with DuckDB storage version v1.4.0 (readable by the
DuckDB 1.4 / 1.5 libraries BI drivers bundle), verifies it, fsyncs it and swaps it in with
`os.replace`: a reader sees the old file or the new one, never a half-written one, and keeps its
open handle (the old inode) across the swap. A refusal or a failure leaves the serving copy as it
was, byte for byte.
"""

from leakproof.publish._build import (
    GREEN_STATUSES,
    MARKER_TABLE,
    REFUSALS,
    BuildCheck,
    PublishError,
    PublishRefused,
    check_build,
    failed_nodes,
)
from leakproof.publish._serving import (
    BI_SCHEMAS,
    EXCLUDED_RELATIONS,
    MAX_READABLE_HEADER_VERSION,
    METADATA_TABLE,
    STORAGE_VERSION,
    PublishResult,
    header_version,
    publish,
    verify,
)

__all__ = [
    "BI_SCHEMAS",
    "EXCLUDED_RELATIONS",
    "GREEN_STATUSES",
    "MARKER_TABLE",
    "MAX_READABLE_HEADER_VERSION",
    "METADATA_TABLE",
    "REFUSALS",
    "STORAGE_VERSION",
    "BuildCheck",
    "PublishError",
    "PublishRefused",
    "PublishResult",
    "check_build",
    "failed_nodes",
    "header_version",
    "publish",
    "verify",
]
