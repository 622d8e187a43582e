"""Model artifacts on disk: save, verify by sha256 before every load, and build registry rows.

Layout (one directory per model, so two models never share a file)::

    <artifact_dir>/<use_case>/<model_id>/model.joblib     the whole ModelBundle (joblib)
    <artifact_dir>/<use_case>/<model_id>/model.json       XGBoost's own booster JSON (XGBoost only)
    <artifact_dir>/<use_case>/<model_id>/metadata.json    registry row, hashes, library versions
    <artifact_dir>/<use_case>/<model_id>/tables/*.parquet training tables (primary model only)
    <artifact_dir>/<use_case>/current.json                registry rows of the latest training run

The registry row records the sha256 of ``model.joblib``; the bundle inside records the sha256 of
every training table, so one verified hash covers everything a scoring run reads. No file is
unpickled before its hash matches: a mismatch raises ``ArtifactIntegrityError`` naming the file.

This module knows nothing about how models are trained: it reads a few attributes of the bundle it
is given (``model_id``, ``use_case``, ``booster``, ...), so it never imports ``leakproof.train``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from leakproof.exceptions import LeakproofError

MODEL_FILE = "model.joblib"
BOOSTER_FILE = "model.json"
METADATA_FILE = "metadata.json"
TABLES_DIR = "tables"
CURRENT_FILE = "current.json"

# Libraries whose versions are recorded with every model (its scores depend on them), by the
# name users know them by -> the module that carries the version.
LIBRARIES = {
    "scikit-learn": "sklearn",
    "xgboost": "xgboost",
    "imbalanced-learn": "imblearn",
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "joblib": "joblib",
    "pyarrow": "pyarrow",
}

REGISTRY_COLUMNS = (
    "model_id",
    "use_case",
    "role",
    "selection_rule",
    "algorithm",
    "imbalance_treatment",
    "smote_k_neighbors",
    "calibration_method",
    "params",
    "feature_list",
    "numeric_features",
    "categorical_features",
    "n_features",
    "training_rows",
    "training_split_rows",
    "training_positives",
    "training_negatives",
    "training_base_rate",
    "test_rows",
    "threshold",
    "threshold_objective",
    "threshold_probability",
    "threshold_f1",
    "threshold_cost",
    "contact_cost",
    "conversion_value",
    "cv_folds",
    "cv_auc_mean",
    "cv_auc_sd",
    "train_auc",
    "test_auc",
    "train_test_auc_gap",
    "seed",
    "library_versions",
    "training_data_sha256",
    "artifact_path",
    "artifact_sha256",
    "booster_json_path",
    "booster_json_sha256",
    "metadata_path",
    "trained_at",
)


class ArtifactIntegrityError(LeakproofError):
    """A model artifact does not match what was registered for it; it is not loaded."""

    def __init__(
        self, path: Path | str, expected: str, actual: str | None, *, what: str = "sha256"
    ) -> None:
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        found = "the file does not exist" if actual is None else f"found {what} {actual}"
        super().__init__(
            f"artifact {self.path} failed its integrity check: expected {what} {expected}, "
            f"{found}. It was modified, replaced or truncated after it was registered; "
            "refusing to load it (retrain, or restore the registered file)."
        )


@dataclass(frozen=True)
class SavedModel:
    """Where a bundle was written and the sha256 of each file."""

    directory: Path
    model_path: Path
    model_sha256: str
    metadata_path: Path
    booster_path: Path | None = None
    booster_sha256: str | None = None


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and of every library a model's scores depend on."""
    versions = {"python": platform.python_version()}
    for name, module in LIBRARIES.items():
        versions[name] = str(importlib.import_module(module).__version__)
    try:
        versions["xgboost-distribution"] = "xgboost-cpu " + metadata.version("xgboost-cpu")
    except metadata.PackageNotFoundError:
        versions["xgboost-distribution"] = "xgboost"
    return versions


def model_directory(artifact_dir: Path | str, use_case: str, model_id: str) -> Path:
    """``<artifact_dir>/<use_case>/<model_id>``."""
    return Path(artifact_dir) / use_case / model_id


def verify_file(path: Path | str, expected_sha256: str) -> None:
    """Raise ``ArtifactIntegrityError`` unless the file exists and hashes to ``expected_sha256``."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactIntegrityError(path, expected_sha256, None)
    actual = sha256_file(path)
    if actual != str(expected_sha256).lower():
        raise ArtifactIntegrityError(path, expected_sha256, actual)


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name keeps the real suffix: XGBoost picks its format from it (.json).
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_json(path: Path, payload: Any) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    _atomic_write(path, lambda target: target.write_text(text, encoding="utf-8"))


def save_tables(
    tables: Mapping[str, pd.DataFrame], artifact_dir: Path | str, use_case: str, model_id: str
) -> dict[str, str]:
    """Write training tables as Parquet next to a model; return ``{name: sha256}``."""
    directory = model_directory(artifact_dir, use_case, model_id) / TABLES_DIR
    hashes: dict[str, str] = {}
    for name, table in tables.items():
        path = directory / f"{name}.parquet"
        _atomic_write(path, lambda target, t=table: t.to_parquet(target, index=False))
        hashes[name] = sha256_file(path)
    return hashes


def save_model(bundle: Any, artifact_dir: Path | str, *, trained_at: datetime) -> SavedModel:
    """Write ``bundle`` (joblib), its XGBoost booster (JSON, if any) and ``metadata.json``.

    The directory is named by the bundle's deterministic ``model_id``: retraining on the same data
    with the same parameters rewrites the same files (each atomically). ``metadata.json`` holds
    the registry row, the hash of every file and table, and the library versions.
    """
    directory = model_directory(artifact_dir, bundle.use_case, bundle.model_id)
    model_path = directory / MODEL_FILE
    _atomic_write(model_path, lambda target: joblib.dump(bundle, target, compress=3))

    booster_path: Path | None = None
    booster_sha: str | None = None
    booster = getattr(bundle, "booster", None)
    if booster is not None:
        booster_path = directory / BOOSTER_FILE
        _atomic_write(booster_path, lambda target: booster.save_model(str(target)))
        booster_sha = sha256_file(booster_path)

    saved = SavedModel(
        directory=directory,
        model_path=model_path,
        model_sha256=sha256_file(model_path),
        metadata_path=directory / METADATA_FILE,
        booster_path=booster_path,
        booster_sha256=booster_sha,
    )
    row = registry_row(bundle, saved, trained_at=trained_at)
    files = {MODEL_FILE: saved.model_sha256}
    if booster_sha:
        files[BOOSTER_FILE] = booster_sha
    payload = {
        "model_id": bundle.model_id,
        "use_case": bundle.use_case,
        "files": files,
        "tables": dict(getattr(bundle, "tables_sha256", {}) or {}),
        "registry_row": row,
    }
    _write_json(saved.metadata_path, payload)
    return saved


def load_model(path: Path | str, expected_sha256: str) -> Any:
    """Verify ``path`` against ``expected_sha256``, then (only then) unpickle it with joblib."""
    verify_file(path, expected_sha256)
    return joblib.load(path)


def load_booster_json(path: Path | str, expected_sha256: str) -> Any:
    """Verify and load an XGBoost booster saved as JSON (readable without this package)."""
    import xgboost

    verify_file(path, expected_sha256)
    booster = xgboost.Booster()
    booster.load_model(str(path))
    return booster


def _to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def registry_row(bundle: Any, saved: SavedModel | None, *, trained_at: datetime) -> dict[str, Any]:
    """One ``ml_model_registry`` row (columns in ``REGISTRY_COLUMNS`` order).

    ``saved`` is None for a model that was not written (``train(..., save=False)``): its artifact
    columns are then null.
    """
    spec = bundle.spec
    training = bundle.training
    metrics = bundle.metrics
    row = {
        "model_id": bundle.model_id,
        "use_case": bundle.use_case,
        "role": bundle.role,
        "selection_rule": spec.selection_rule,
        "algorithm": bundle.algorithm,
        "imbalance_treatment": bundle.imbalance_treatment,
        "smote_k_neighbors": bundle.smote_k_neighbors,
        "calibration_method": bundle.calibrator.method,
        "params": _to_json(bundle.params),
        "feature_list": _to_json(list(spec.features)),
        "numeric_features": _to_json(list(spec.numeric_features)),
        "categorical_features": _to_json(list(spec.categorical_features)),
        "n_features": len(spec.features),
        "training_rows": training["rows"],
        "training_split_rows": training.get("split_rows", training["rows"]),
        "training_positives": training["positives"],
        "training_negatives": training["negatives"],
        "training_base_rate": training["base_rate"],
        "test_rows": training["test_rows"],
        "threshold": bundle.threshold,
        "threshold_objective": spec.threshold_objective,
        "threshold_probability": "calibrated",
        "threshold_f1": bundle.thresholds["f1"],
        "threshold_cost": bundle.thresholds["cost"],
        "contact_cost": spec.contact_cost,
        "conversion_value": spec.conversion_value,
        "cv_folds": training["cv_folds"],
        "cv_auc_mean": metrics["cv_auc_mean"],
        "cv_auc_sd": metrics["cv_auc_sd"],
        "train_auc": metrics.get("train_auc"),
        "test_auc": metrics["test_auc"],
        "train_test_auc_gap": metrics.get("train_test_auc_gap"),
        "seed": spec.seed,
        "library_versions": _to_json(bundle.library_versions),
        "training_data_sha256": training["data_sha256"],
        "artifact_path": None if saved is None else str(saved.model_path),
        "artifact_sha256": None if saved is None else saved.model_sha256,
        "booster_json_path": None
        if saved is None or saved.booster_path is None
        else str(saved.booster_path),
        "booster_json_sha256": None if saved is None else saved.booster_sha256,
        "metadata_path": None if saved is None else str(saved.metadata_path),
        "trained_at": trained_at,
    }
    return {column: row[column] for column in REGISTRY_COLUMNS}


def registry_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Registry rows as a frame with stable column order and dtypes."""
    frame = pd.DataFrame(rows, columns=list(REGISTRY_COLUMNS))
    frame["smote_k_neighbors"] = frame["smote_k_neighbors"].astype("Int64")
    frame["trained_at"] = pd.to_datetime(frame["trained_at"], utc=True)
    return frame


def write_current(artifact_dir: Path | str, use_case: str, registry: pd.DataFrame) -> Path:
    """Record the registry rows of the latest training run in ``<use_case>/current.json``.

    This pointer is a convenience for scoring without retraining; the anchor of trust remains the
    sha256 in each row, checked by ``load_registered`` before anything is unpickled.
    """
    path = Path(artifact_dir) / use_case / CURRENT_FILE
    records = json.loads(registry.to_json(orient="records", date_format="iso"))
    _write_json(path, {"use_case": use_case, "models": records})
    return path


def read_current(artifact_dir: Path | str, use_case: str) -> pd.DataFrame:
    """The registry rows written by the latest training run of ``use_case``."""
    path = Path(artifact_dir) / use_case / CURRENT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no registered model for use case {use_case!r}: {path} does not exist "
            "(train once with retrain enabled)"
        )
    payload = json.loads(path.read_text(encoding="utf-8"))
    return registry_frame(payload["models"])


def as_registry_row(registry: Any, *, role: str = "primary") -> dict[str, Any]:
    """Accept a dict, a Series or a registry frame; return one row as a dict.

    A frame with several rows is narrowed to its ``role`` row (``primary`` by default).
    """
    if isinstance(registry, pd.DataFrame):
        frame = registry
        if len(frame) != 1:
            frame = frame[frame["role"] == role]
        if len(frame) != 1:
            raise ValueError(
                f"expected exactly one registry row with role {role!r}, found {len(frame)}"
            )
        return frame.iloc[0].to_dict()
    if isinstance(registry, pd.Series):
        return registry.to_dict()
    if isinstance(registry, Mapping):
        return dict(registry)
    raise TypeError(f"a registry row must be a dict, Series or DataFrame, not {type(registry)}")


def load_registered(registry: Any, *, artifact_root: Path | str | None = None) -> Any:
    """Load the bundle a registry row points at, after verifying its sha256.

    ``artifact_root`` re-roots a relative ``artifact_path`` (default: the working directory).
    """
    row = as_registry_row(registry)
    if not isinstance(row.get("artifact_path"), str) or not row.get("artifact_sha256"):
        raise ValueError(
            f"registry row of model {row.get('model_id')!r} has no saved artifact "
            "(was it trained with save=False?)"
        )
    path = Path(row["artifact_path"])
    if artifact_root is not None and not path.is_absolute():
        path = Path(artifact_root) / path
    bundle = load_model(path, row["artifact_sha256"])
    if bundle.model_id != row["model_id"]:
        raise ArtifactIntegrityError(path, row["model_id"], bundle.model_id, what="model_id")
    _warn_on_version_drift(bundle)
    return bundle


def _warn_on_version_drift(bundle: Any) -> None:
    """Warn when the libraries differ from those the model was trained with (scores may move)."""
    trained = getattr(bundle, "library_versions", {}) or {}
    current = library_versions()
    drift = {
        name: (trained[name], current.get(name))
        for name in LIBRARIES
        if name in trained and trained[name] != current.get(name)
    }
    if drift:
        changes = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in sorted(drift.items()))
        warnings.warn(
            f"model {bundle.model_id} was trained with other library versions ({changes}); "
            "its scores may differ slightly from the registered run",
            stacklevel=3,
        )


def load_training_tables(
    registry: Any, *, artifact_root: Path | str | None = None
) -> dict[str, pd.DataFrame]:
    """The training tables saved with the primary model, each verified against its sha256.

    The expected hashes come from the verified bundle, so a swapped table is caught too.
    """
    row = as_registry_row(registry)
    bundle = load_registered(row, artifact_root=artifact_root)
    directory = Path(row["artifact_path"]).parent / TABLES_DIR
    if artifact_root is not None and not directory.is_absolute():
        directory = Path(artifact_root) / directory
    tables: dict[str, pd.DataFrame] = {}
    for name, expected in sorted(bundle.tables_sha256.items()):
        path = directory / f"{name}.parquet"
        verify_file(path, expected)
        tables[name] = pd.read_parquet(path)
    return tables


def utc_now() -> datetime:
    """The current time in UTC, to the second (the registry's ``trained_at``)."""
    return datetime.now(UTC).replace(microsecond=0)
