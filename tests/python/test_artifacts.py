"""leakproof.artifacts: layout, sha256 verification before every load, registry rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leakproof import artifacts as A
from leakproof import train as T
from test_train import demo_spec, synthetic_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(2000, seed=21)


@pytest.fixture()
def run(tmp_path: Path, frame: pd.DataFrame) -> tuple[T.ModelSpec, T.TrainResult]:
    """A quick run (one treatment per family) into a fresh directory that tests may damage."""
    spec = demo_spec(tmp_path / "artifacts", imbalance_treatments=("none",))
    return spec, T.train(frame, spec)


def _row(result: T.TrainResult, family: str) -> dict:
    algorithm = T.ALGORITHMS[family]
    return result.registry.set_index("algorithm").loc[algorithm].to_dict() | {
        "algorithm": algorithm
    }


def test_layout_and_metadata(run) -> None:
    spec, result = run
    root = Path(spec.artifact_dir) / "demo"
    for _, row in result.registry.iterrows():
        directory = root / row.model_id
        assert Path(row.artifact_path) == directory / "model.joblib"
        assert Path(row.metadata_path) == directory / "metadata.json"
        assert A.sha256_file(row.artifact_path) == row.artifact_sha256
        metadata = json.loads(Path(row.metadata_path).read_text())
        assert metadata["files"]["model.joblib"] == row.artifact_sha256
        assert metadata["registry_row"]["model_id"] == row.model_id
        assert metadata["registry_row"]["artifact_sha256"] == row.artifact_sha256
        if row.algorithm == "xgboost":
            assert Path(row.booster_json_path) == directory / "model.json"
            assert A.sha256_file(row.booster_json_path) == row.booster_json_sha256
            assert metadata["files"]["model.json"] == row.booster_json_sha256
            json.loads(Path(row.booster_json_path).read_text())  # real JSON, not UBJSON
        else:
            assert pd.isna(row.booster_json_path) and not (directory / "model.json").exists()
    primary = result.registry.set_index("role").loc["primary"]
    tables = sorted(p.name for p in (Path(primary.artifact_path).parent / "tables").iterdir())
    assert tables == sorted(
        f"{name}.parquet"
        for name in (
            "ml_model_comparison",
            "ml_threshold_sweep",
            "ml_feature_importance",
            "ml_model_coefficients",
            "ml_model_cv_folds",
        )
    )
    assert list(result.registry.columns) == list(A.REGISTRY_COLUMNS)


def test_load_roundtrip_scores_identically(run, frame) -> None:
    _, result = run
    for family in ("xgboost", "logistic"):
        row = _row(result, family)
        bundle = A.load_model(row["artifact_path"], row["artifact_sha256"])
        assert bundle.model_id == row["model_id"]
        original = result.bundles[row["model_id"]]
        pd.testing.assert_frame_equal(
            T.predict_proba_frame(bundle, frame),
            T.predict_proba_frame(original, frame),
            check_exact=True,
        )
        # Any registry shape works: a dict, a Series, a one-row frame.
        for registry in (row, pd.Series(row), pd.DataFrame([row])):
            assert A.load_registered(registry).model_id == row["model_id"]


def test_booster_json_loads_in_plain_xgboost(run, frame) -> None:
    _, result = run
    row = _row(result, "xgboost")
    booster = A.load_booster_json(row["booster_json_path"], row["booster_json_sha256"])
    bundle = result.bundles[row["model_id"]]
    design = bundle.design_matrix(frame)
    np.testing.assert_array_equal(
        booster.inplace_predict(design, predict_type="margin"), bundle.margin(design)
    )


def test_tampered_model_is_refused_before_unpickling(run, monkeypatch) -> None:
    _, result = run
    row = _row(result, "logistic")
    path = Path(row["artifact_path"])
    path.write_bytes(path.read_bytes() + b"\0")
    actual = A.sha256_file(path)

    def never(*args, **kwargs):
        raise AssertionError("joblib.load must not run on an unverified file")

    monkeypatch.setattr(A.joblib, "load", never)
    with pytest.raises(A.ArtifactIntegrityError) as caught:
        A.load_model(path, row["artifact_sha256"])
    error = caught.value
    assert error.path == path and error.expected == row["artifact_sha256"]
    assert error.actual == actual
    message = str(error)
    assert str(path) in message and row["artifact_sha256"] in message and actual in message


def test_scoring_with_a_tampered_or_missing_artifact_fails(run, frame) -> None:
    _, result = run
    row = _row(result, "xgboost")
    path = Path(row["artifact_path"])
    original = path.read_bytes()
    path.write_bytes(original[:-10])
    with pytest.raises(A.ArtifactIntegrityError, match="failed its integrity check"):
        T.score(frame, row)
    path.unlink()
    with pytest.raises(A.ArtifactIntegrityError, match="does not exist"):
        T.score(frame, row)
    path.write_bytes(original)
    assert len(T.score(frame, row)) == len(frame)


def test_tampered_booster_json_is_refused(run) -> None:
    _, result = run
    row = _row(result, "xgboost")
    path = Path(row["booster_json_path"])
    model = json.loads(path.read_text())
    model["learner"]["learner_model_param"]["base_score"] = "[9E-1]"
    path.write_text(json.dumps(model))
    with pytest.raises(A.ArtifactIntegrityError, match=r"model\.json"):
        A.load_booster_json(path, row["booster_json_sha256"])


def test_training_tables_roundtrip_and_are_verified(run) -> None:
    _, result = run
    primary = result.registry[result.registry.role == "primary"]
    tables = A.load_training_tables(primary)
    pd.testing.assert_frame_equal(tables["ml_model_comparison"], result.comparison)
    pd.testing.assert_frame_equal(tables["ml_threshold_sweep"], result.threshold_sweep)
    pd.testing.assert_frame_equal(tables["ml_feature_importance"], result.feature_importance)
    swapped = Path(primary.artifact_path.iloc[0]).parent / "tables" / "ml_threshold_sweep.parquet"
    result.threshold_sweep.head(3).to_parquet(swapped, index=False)
    with pytest.raises(A.ArtifactIntegrityError, match=r"ml_threshold_sweep\.parquet"):
        A.load_training_tables(primary)


def test_current_pointer_holds_the_latest_registry(run) -> None:
    spec, result = run
    current = A.read_current(spec.artifact_dir, "demo")
    pd.testing.assert_frame_equal(current, result.registry, check_dtype=False)
    with pytest.raises(FileNotFoundError, match="no registered model"):
        A.read_current(spec.artifact_dir, "b2b")


def test_retraining_rewrites_byte_identical_artifacts(run, frame) -> None:
    spec, result = run
    again = T.train(frame, spec)
    assert again.registry.model_id.tolist() == result.registry.model_id.tolist()
    assert again.registry.artifact_sha256.tolist() == result.registry.artifact_sha256.tolist()
    assert again.registry.booster_json_sha256.equals(result.registry.booster_json_sha256)


def test_model_id_follows_the_data_and_params(run, frame, tmp_path) -> None:
    spec, result = run
    flipped = frame.copy()
    first = flipped.index[flipped.split == "train"][0]
    flipped.loc[first, "converted"] = 1.0 - flipped.loc[first, "converted"]
    other_data = T.train(flipped, spec, save=False)
    other_params = T.train(
        frame, demo_spec(tmp_path, imbalance_treatments=("none",), logistic_c=0.1), save=False
    )
    ids = set(result.registry.model_id)
    assert not ids & set(other_data.registry.model_id)
    changed = dict(
        zip(other_params.registry.algorithm, other_params.registry.model_id, strict=True)
    )
    original = dict(zip(result.registry.algorithm, result.registry.model_id, strict=True))
    assert changed["logistic_l2"] != original["logistic_l2"]
    # logistic_c is part of the spec, so it defines every model of the use case.
    assert changed["xgboost"] != original["xgboost"]


def test_relative_artifact_dir_can_be_rerooted(tmp_path, frame, monkeypatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    spec = demo_spec("artifacts", families=("logistic",), primary_family="logistic")
    result = T.train(frame, spec)
    row = result.registry.iloc[0]
    assert not Path(row.artifact_path).is_absolute()
    monkeypatch.chdir(tmp_path)
    scored = T.score(frame, row, artifact_root=project)
    pd.testing.assert_frame_equal(scored, result.scores, check_exact=True)


def test_loading_warns_when_library_versions_changed(run, monkeypatch) -> None:
    _, result = run
    row = _row(result, "logistic")
    current = A.library_versions()
    monkeypatch.setattr(A, "library_versions", lambda: current | {"scikit-learn": "0.0.1"})
    with pytest.warns(UserWarning, match=r"scikit-learn .* -> 0\.0\.1"):
        A.load_registered(row)


def test_a_row_pointing_at_another_model_is_refused(run, frame) -> None:
    _, result = run
    xgb, logistic = _row(result, "xgboost"), _row(result, "logistic")
    swapped = xgb | {
        "artifact_path": logistic["artifact_path"],
        "artifact_sha256": logistic["artifact_sha256"],
    }
    with pytest.raises(A.ArtifactIntegrityError, match="expected model_id"):
        T.score(frame, swapped)
    unsaved = xgb | {"artifact_path": None, "artifact_sha256": None}
    with pytest.raises(ValueError, match="no saved artifact"):
        T.score(frame, unsaved)
