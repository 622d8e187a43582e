"""leakproof.drift: frozen reference bins and PSI, checked against hand computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from leakproof import artifacts, drift


def test_psi_matches_the_formula_and_floors_empty_shares() -> None:
    expected = [0.5, 0.3, 0.2, 0.0]
    actual = [0.4, 0.3, 0.2, 0.1]
    hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert drift.psi(expected, actual, epsilon=1e-4) == pytest.approx(hand, abs=1e-15)
    assert drift.psi(expected, expected) == 0.0


def test_psi_bands() -> None:
    assert [drift.psi_band(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        "stable",
        "stable",
        "investigate",
        "investigate",
        "shifted",
        "shifted",
    ]


def test_numeric_bins_are_training_quantiles_right_closed_with_a_missing_bin() -> None:
    values = pd.Series([*range(1, 101), None], dtype="float64")
    bins = drift.variable_bins(values, "x", "numeric", n_bins=4)
    assert bins["bin_index"].tolist() == [0, 1, 2, 3, 4]
    assert bins["upper_edge"].tolist()[1:] == [25.75, 50.5, 75.25, np.inf]
    assert bins["lower_edge"].tolist()[1] == -np.inf
    assert bins["reference_rows"].tolist() == [1, 25, 25, 25, 25]
    assert bins["reference_share"].sum() == pytest.approx(1.0)
    # a value on an edge belongs to the bin below it: (lower, upper]
    assert drift.assign_bins(pd.Series([25.75, 25.76, None, -1e9, 1e9]), bins).tolist() == [
        1,
        2,
        0,
        1,
        4,
    ]


def test_duplicate_quantile_edges_are_dropped() -> None:
    values = pd.Series([0.0] * 95 + [1.0] * 5)
    bins = drift.variable_bins(values, "x", "numeric", n_bins=10)
    assert bins.loc[~bins["is_missing_bin"], "upper_edge"].tolist() == [0.0, np.inf]
    assert bins["reference_rows"].tolist() == [0, 95, 5]


def test_categorical_bins_by_value_with_other_and_booleans_as_duckdb_text() -> None:
    bins = drift.variable_bins(pd.Series(["a", "b", "b", None]), "c", "categorical", 10)
    assert bins["bin_label"].tolist() == ["missing", "a", "b", drift.OTHER_LABEL]
    assert bins["reference_rows"].tolist() == [1, 1, 2, 0]
    assert drift.assign_bins(pd.Series(["b", "zzz", None]), bins).tolist() == [2, 3, 0]
    flags = drift.variable_bins(pd.Series([True, False, True]), "f", "categorical", 10)
    assert flags["category"].tolist()[1:3] == ["false", "true"]


def test_population_psi_of_the_reference_itself_is_zero_and_a_shift_is_large() -> None:
    rng = np.random.default_rng(0)
    train = pd.Series(rng.normal(size=20_000))
    bins = drift.variable_bins(train, "x", "numeric", 10)
    assert drift.population_psi(train, bins) == pytest.approx(0.0, abs=1e-12)
    assert drift.population_psi(pd.Series(rng.normal(size=5_000)), bins) < 0.01
    assert drift.population_psi(pd.Series(rng.normal(1.0, size=5_000)), bins) > 0.25


def _inputs() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    rng = np.random.default_rng(1)
    n = 500
    features = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "split": np.where(np.arange(n) < 400, "train", "score"),
            "age": rng.integers(18, 70, n),
            "channel": rng.choice(["Email", "PPC"], n),
            "is_paid": rng.random(n) < 0.5,
        }
    )
    scores = features[["customer_id", "split"]].assign(calibrated_probability=rng.random(n))
    row = {
        "use_case": "marketing",
        "model_id": "m1",
        "role": "primary",
        "numeric_features": json.dumps(["age", "is_paid"]),
        "categorical_features": json.dumps(["channel"]),
        "artifact_path": None,
        "artifact_sha256": "abc",
    }
    return features, scores, row


def test_bins_are_frozen_with_the_model_and_verified_when_loaded(tmp_path) -> None:
    features, scores, row = _inputs()
    registry = pd.DataFrame([row])
    inputs = {"marketing": (features, scores, ("customer_id",), "features")}
    lineage = pd.DataFrame(
        {
            "model": ["features", "features", "other"],
            "feature": ["age", "channel", "is_paid"],
            "feature_role": ["feature", "feature", "feature"],
            "status": ["allowed", "clean", "allowed"],
        }
    )
    saved = drift.frozen_reference_bins(
        registry, inputs, tmp_path, retrain=True, n_bins=5, lineage=lineage
    )
    gated = saved.groupby("variable_name")["is_gated"].all().to_dict()
    assert gated == {"age": False, "channel": True, "is_paid": True, "calibrated_probability": True}
    assert set(saved["variable_name"]) == {"age", "channel", "is_paid", "calibrated_probability"}
    kinds = saved.groupby("variable_name")["variable_kind"].first().to_dict()
    assert kinds == {
        "age": "numeric",
        "channel": "categorical",
        "is_paid": "categorical",
        "calibrated_probability": "score",
    }
    # only training rows
    assert saved.groupby("variable_name")["reference_rows"].sum().eq(400).all()

    # reused without retraining: the same bins, whatever the data now looks like
    loaded = drift.frozen_reference_bins(
        registry, {"marketing": None}, tmp_path, retrain=False, n_bins=99
    )

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(loaded), plain(saved))

    # a tampered file, or bins of another model file, are refused
    path = tmp_path / "marketing" / "m1" / drift.BINS_FILE
    with path.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(artifacts.ArtifactIntegrityError, match=drift.BINS_FILE):
        drift.frozen_reference_bins(registry, {"marketing": None}, tmp_path, retrain=False)
    other = registry.assign(artifact_sha256="def")
    with pytest.raises(artifacts.ArtifactIntegrityError, match="model sha256"):
        drift.frozen_reference_bins(other, {"marketing": None}, tmp_path, retrain=False)


def test_missing_frozen_bins_are_reported_not_recomputed(tmp_path) -> None:
    _, _, row = _inputs()
    with pytest.raises(FileNotFoundError, match="retrain"):
        drift.frozen_reference_bins(
            pd.DataFrame([row]), {"marketing": None}, tmp_path, retrain=False
        )


def test_out_of_fold_encodings_are_compared_like_with_like() -> None:
    """Training rows hold fold-wise encodings (five values per channel), test / scoring rows the
    encoding over every training row (one value per channel): measured raw, the same channel mix
    shows a huge PSI; with the reference computed the way test rows get it, none - and a real
    shift of the channel mix still shows."""
    rng = np.random.default_rng(0)
    channels = np.array(["Email", "PPC", "SEO"])
    full = {"Email": 0.02, "PPC": 0.015, "SEO": 0.01}
    train = pd.DataFrame(
        {"channel": rng.choice(channels, 6_000), "fold": rng.integers(0, 5, 6_000)}
    )
    fold_shift = np.array([-0.004, -0.002, 0.0, 0.002, 0.004])
    train["rate_oof"] = train["channel"].map(full) + fold_shift[train["fold"]]
    test = pd.DataFrame({"channel": rng.choice(channels, 3_000)})
    test["rate_oof"] = test["channel"].map(full)
    shifted = pd.DataFrame({"channel": rng.choice(channels, 3_000, p=[0.6, 0.2, 0.2])})
    shifted["rate_oof"] = shifted["channel"].map(full)

    def psi_of(reference: pd.DataFrame, population: pd.DataFrame) -> float:
        bins = drift.variable_bins(reference["rate_oof"], "rate_oof", "numeric", 10)
        expected = drift.bin_shares(reference["rate_oof"], bins)
        return drift.psi(expected, drift.bin_shares(population["rate_oof"], bins))

    assert psi_of(train, test) > 1.0  # raw fold-wise values: a false alarm
    comparable = drift.like_for_like_encodings(train, test, {"rate_oof": "channel"})
    np.testing.assert_allclose(comparable["rate_oof"], train["channel"].map(full))
    assert psi_of(comparable, test) < 0.01
    assert psi_of(comparable, shifted) > 0.1  # real drift of the channel mix still shows
    # a group no other row has keeps the mean of its out-of-fold values
    lone = drift.like_for_like_encodings(
        train, test[test["channel"] != "SEO"], {"rate_oof": "channel"}
    )
    seo = train["channel"] == "SEO"
    np.testing.assert_allclose(lone.loc[seo, "rate_oof"], train.loc[seo, "rate_oof"].mean())
