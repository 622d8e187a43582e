"""Population Stability Index (PSI): bins frozen from the training distribution, and the PSI of
any population against them.

The reference bins of a model are computed once, from the training rows, when the model is
trained, and saved next to its artifact with a sha256 (``psi_reference_bins.parquet`` + ``.json``).
Scoring with ``retrain: false`` reads and verifies them, so the reference never moves.

Bin shape (one row per use case, variable and bin):

- numeric variables (and the score): quantile edges of the training values (``n_bins`` bins,
  duplicate edges dropped), bins ``(lower_edge, upper_edge]`` with -inf / +inf at the ends;
- categorical variables (strings, booleans as 'true' / 'false'): one bin per training value plus
  an 'other / unseen' bin (reference share 0);
- every variable: a missing-value bin (bin_index 0).

``psi`` = sum over bins of (a - e) * ln(a / e), empty shares replaced by ``epsilon``. The SQL model
ml_psi computes the same from the frozen bins; the functions here are its independent reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leakproof import artifacts

BINS_FILE = "psi_reference_bins.parquet"
BINS_META_FILE = "psi_reference_bins.json"
MISSING_BIN = 0
OTHER_LABEL = "other / unseen"
SCORE_VARIABLE = "calibrated_probability"

BIN_COLUMNS = (
    "use_case",
    "model_id",
    "variable_name",
    "variable_kind",
    "bin_index",
    "bin_label",
    "lower_edge",
    "upper_edge",
    "category",
    "is_missing_bin",
    "is_other_bin",
    "is_gated",
    "reference_rows",
    "reference_share",
)


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior edges: the training quantiles at 1/n .. (n-1)/n, duplicates dropped, sorted."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0 or n_bins < 2:
        return np.array([], dtype=float)
    fractions = np.arange(1, n_bins) / n_bins
    return np.unique(np.quantile(values, fractions))


def category_values(values: pd.Series) -> pd.Series:
    """Values as category strings the way DuckDB casts them (booleans 'true' / 'false');
    missing values stay missing."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values) or (
        len(present) and present.map(lambda v: isinstance(v, bool | np.bool_)).all()
    ):
        mapped = values.map({True: "true", False: "false"})
        return mapped.where(values.notna(), None)
    return (
        values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))
    )


def is_categorical(values: pd.Series) -> bool:
    """Strings and booleans are binned by value; other numbers by quantile edges."""
    if pd.api.types.is_bool_dtype(values):
        return True
    return not pd.api.types.is_numeric_dtype(values)


def numeric_bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (1-based, ``(lower, upper]``), ``MISSING_BIN`` for NaN."""
    values = np.asarray(values, dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="left") + 1
    return np.where(np.isnan(values), MISSING_BIN, index)


def variable_bins(values: pd.Series, variable: str, kind: str, n_bins: int) -> pd.DataFrame:
    """The reference bins of one variable (``kind``: numeric | score | categorical)."""
    total = len(values)
    if kind == "categorical":
        labels = category_values(values)
        counts = labels.dropna().value_counts()
        categories = sorted(counts.index)
        rows = [
            {
                "bin_index": i,
                "bin_label": category,
                "category": category,
                "is_other_bin": False,
                "reference_rows": int(counts[category]),
            }
            for i, category in enumerate(categories, start=1)
        ]
        rows.append(
            {
                "bin_index": len(categories) + 1,
                "bin_label": OTHER_LABEL,
                "category": None,
                "is_other_bin": True,
                "reference_rows": 0,
            }
        )
        missing = int(labels.isna().sum())
        frame = pd.DataFrame(rows).assign(lower_edge=np.nan, upper_edge=np.nan)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        edges = quantile_edges(numbers, n_bins)
        lower = np.concatenate([[-np.inf], edges])
        upper = np.concatenate([edges, [np.inf]])
        counts = np.bincount(numeric_bin_index(numbers, edges), minlength=len(lower) + 1)
        frame = pd.DataFrame(
            {
                "bin_index": np.arange(1, len(lower) + 1),
                "bin_label": [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(lower, upper, strict=True)],
                "category": None,
                "is_other_bin": False,
                "reference_rows": counts[1:].astype(int),
                "lower_edge": lower,
                "upper_edge": upper,
            }
        )
        missing = int(counts[MISSING_BIN])
    missing_row = pd.DataFrame(
        [
            {
                "bin_index": MISSING_BIN,
                "bin_label": "missing",
                "category": None,
                "is_other_bin": False,
                "reference_rows": missing,
                "lower_edge": np.nan,
                "upper_edge": np.nan,
            }
        ]
    )
    frame = pd.concat([missing_row, frame], ignore_index=True)
    frame["variable_name"] = variable
    frame["variable_kind"] = kind
    frame["is_missing_bin"] = frame["bin_index"] == MISSING_BIN
    frame["reference_share"] = frame["reference_rows"] / total if total else 0.0
    return frame


def reference_bins(
    frame: pd.DataFrame,
    numeric: Iterable[str],
    categorical: Iterable[str],
    n_bins: int = 10,
    *,
    score: str | None = None,
    use_case: str = "",
    model_id: str = "",
    ungated: Iterable[str] = (),
) -> pd.DataFrame:
    """Reference bins of every variable of ``frame`` (the training rows): ``numeric`` by quantile
    edges, ``categorical`` by value, and the ``score`` column (kind 'score') by quantile edges.
    Variables in ``ungated`` are measured but marked ``is_gated`` false (the drift tests skip
    them)."""
    parts = [variable_bins(frame[c], c, "numeric", n_bins) for c in numeric]
    parts += [variable_bins(frame[c], c, "categorical", n_bins) for c in categorical]
    if score is not None:
        parts.append(variable_bins(frame[score], score, "score", n_bins))
    if not parts:
        raise ValueError("reference_bins needs at least one variable")
    bins = pd.concat(parts, ignore_index=True)
    bins["use_case"] = use_case
    bins["model_id"] = model_id
    bins["is_gated"] = ~bins["variable_name"].isin(list(ungated))
    bins["reference_rows"] = bins["reference_rows"].astype("int64")
    bins["bin_index"] = bins["bin_index"].astype("int64")
    bins["category"] = bins["category"].astype(object)
    return bins[list(BIN_COLUMNS)]


def assign_bins(values: pd.Series, bins: pd.DataFrame) -> np.ndarray:
    """The bin_index of each value against one variable's frozen bins."""
    kind = bins["variable_kind"].iloc[0]
    if kind == "categorical":
        labels = category_values(values)
        known = bins.dropna(subset=["category"]).set_index("category")["bin_index"]
        other = int(bins.loc[bins["is_other_bin"], "bin_index"].iloc[0])
        index = labels.map(known).fillna(other).to_numpy(dtype="int64")
        return np.where(labels.isna().to_numpy(), MISSING_BIN, index)
    edges = bins.loc[~bins["is_missing_bin"], "upper_edge"].to_numpy(dtype=float)[:-1]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numeric_bin_index(numbers, edges)


def bin_shares(values: pd.Series, bins: pd.DataFrame) -> np.ndarray:
    """Share of ``values`` in each of one variable's bins, in the order of ``bins``."""
    index = assign_bins(values, bins)
    counts = pd.Series(index).value_counts()
    order = bins["bin_index"].to_numpy()
    return np.array([counts.get(i, 0) for i in order], dtype=float) / max(len(values), 1)


def psi(
    expected_shares: Sequence[float], actual_shares: Sequence[float], epsilon: float = 1e-4
) -> float:
    """Population Stability Index: sum (a - e) ln(a / e), empty (zero) shares set to epsilon."""
    expected = np.asarray(expected_shares, dtype=float)
    actual = np.asarray(actual_shares, dtype=float)
    expected = np.where(expected == 0, epsilon, expected)
    actual = np.where(actual == 0, epsilon, actual)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_band(value: float, investigate: float = 0.1, shifted: float = 0.25) -> str:
    """stable below 0.1, investigate from 0.1 up to 0.25, shifted at 0.25 and above."""
    if value < investigate:
        return "stable"
    return "investigate" if value < shifted else "shifted"


def population_psi(
    values: pd.Series, variable_bins_frame: pd.DataFrame, epsilon: float = 1e-4
) -> float:
    """PSI of a population's values of one variable against its frozen reference bins."""
    return psi(
        variable_bins_frame["reference_share"].to_numpy(dtype=float),
        bin_shares(values, variable_bins_frame),
        epsilon,
    )


# ---- frozen with the model -----------------------------------------------------------------


def _registry_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


def ungated_features(lineage: pd.DataFrame | None, feature_table: str) -> set[str]:
    """Features the leakage guard allowed to use the target (status 'allowed': out-of-fold target
    encodings). Their training values are out of fold and their scoring values use every training
    row, so their PSI against training differs by construction - measured, not gated (the
    category they encode is a feature of its own and is gated)."""
    if lineage is None or lineage.empty:
        return set()
    rows = lineage[(lineage["model"] == feature_table) & (lineage["feature_role"] == "feature")]
    return set(rows.loc[rows["status"] == "allowed", "feature"])


def like_for_like_encodings(
    train: pd.DataFrame, others: pd.DataFrame, encodings: Mapping[str, str]
) -> pd.DataFrame:
    """``train`` with each out-of-fold target encoding (column -> its group column) replaced by
    the value rows outside training get for the same group - the encoding over every training
    row, which is what test and scoring rows hold. The training values are fold-wise by design,
    so their PSI against test or scoring values measures the folds, not drift (a real 8,000-row
    export showed 3.6); computed the same way the comparison is like with like. A group no other
    row has keeps the mean of its out-of-fold values."""
    out = train.copy()
    for column, by in encodings.items():
        if column not in out or by not in out or column not in others or by not in others:
            continue
        known = others.dropna(subset=[column, by])
        mapping = known.groupby(known[by].astype(str))[column].first()
        fallback = out.groupby(out[by].astype(str))[column].transform("mean")
        mapped = out[by].astype(str).map(mapping).where(out[by].notna())
        out[column] = mapped.astype(float).fillna(fallback)
    return out


def use_case_reference_bins(
    features: pd.DataFrame,
    scores: pd.DataFrame,
    registry_row: dict[str, Any],
    id_columns: Sequence[str],
    n_bins: int,
    ungated: Iterable[str] = (),
) -> pd.DataFrame:
    """Reference bins of one use case: its model's features and calibrated score over the
    training split. Booleans and strings are binned by value, other numbers by quantiles."""
    train = features[features["split"] == "train"]
    score_cols = [*id_columns, "split", SCORE_VARIABLE]
    train = train.merge(scores[score_cols], on=[*id_columns, "split"], how="left")
    variables = _registry_list(registry_row["numeric_features"]) + _registry_list(
        registry_row["categorical_features"]
    )
    categorical = [v for v in variables if is_categorical(train[v])]
    numeric = [v for v in variables if v not in categorical]
    return reference_bins(
        train,
        sorted(numeric),
        sorted(categorical),
        n_bins,
        score=SCORE_VARIABLE,
        use_case=str(registry_row["use_case"]),
        model_id=str(registry_row["model_id"]),
        ungated=ungated,
    )


def _paths(artifact_dir: Path | str, registry_row: dict[str, Any]) -> tuple[Path, Path]:
    """Next to the model's artifact (``<artifact_dir>/<use_case>/<model_id>/``)."""
    if isinstance(registry_row.get("artifact_path"), str):
        directory = Path(registry_row["artifact_path"]).parent
    else:
        directory = artifacts.model_directory(
            artifact_dir, registry_row["use_case"], registry_row["model_id"]
        )
    return directory / BINS_FILE, directory / BINS_META_FILE


def save_reference_bins(
    bins: pd.DataFrame, artifact_dir: Path | str, registry_row: dict[str, Any]
) -> Path:
    """Write a model's bins next to its artifact, with their sha256 and the model's own sha256
    (so the bins are bound to that exact model file)."""
    path, meta = _paths(artifact_dir, registry_row)
    artifacts._atomic_write(path, lambda target: bins.to_parquet(target, index=False))
    payload = {
        "model_id": registry_row["model_id"],
        "use_case": registry_row["use_case"],
        "model_artifact_sha256": registry_row.get("artifact_sha256"),
        "sha256": artifacts.sha256_file(path),
        "rows": len(bins),
    }
    artifacts._write_json(meta, payload)
    return path


def load_reference_bins(artifact_dir: Path | str, registry_row: dict[str, Any]) -> pd.DataFrame:
    """A model's frozen bins, verified (sha256 of the file, and bound to the registered model)."""
    path, meta = _paths(artifact_dir, registry_row)
    if not meta.is_file():
        raise FileNotFoundError(
            f"no frozen PSI reference bins for model {registry_row['model_id']}: {meta} does not "
            "exist (train once with retrain enabled)"
        )
    payload = json.loads(meta.read_text(encoding="utf-8"))
    registered = registry_row.get("artifact_sha256")
    if registered and payload.get("model_artifact_sha256") != registered:
        raise artifacts.ArtifactIntegrityError(
            meta, str(registered), payload.get("model_artifact_sha256"), what="model sha256"
        )
    artifacts.verify_file(path, payload["sha256"])
    return pd.read_parquet(path)


def frozen_reference_bins(
    registry: pd.DataFrame,
    inputs: dict[str, Any],
    artifact_dir: Path | str,
    retrain: bool,
    n_bins: int = 10,
    lineage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The reference bins of every use case's primary model. ``inputs``: use case ->
    (features, scores, id columns, feature table name) - None when not retraining. With
    ``retrain`` they are computed from the training split and saved with the model; otherwise
    the saved ones are loaded and verified. ``lineage`` (ml_feature_lineage) marks the allowed
    target encodings ungated."""
    parts = []
    for use_case in sorted(inputs):
        rows = registry[(registry["use_case"] == use_case) & (registry["role"] == "primary")]
        row = artifacts.as_registry_row(rows)
        if retrain:
            features, scores, id_columns, feature_table = inputs[use_case]
            ungated = ungated_features(lineage, feature_table)
            bins = use_case_reference_bins(features, scores, row, id_columns, n_bins, ungated)
            save_reference_bins(bins, artifact_dir, row)
        else:
            bins = load_reference_bins(artifact_dir, row)
        parts.append(bins)
    return pd.concat(parts, ignore_index=True)[list(BIN_COLUMNS)]
