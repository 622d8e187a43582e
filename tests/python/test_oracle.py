"""leakproof.oracle: DeLong's paired AUC covariance against its definition (placement values by
brute force) and a value worked by hand; the oracle comparison's verdicts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leakproof.oracle import ORACLE_SCHEMA, compare_with_oracle, delong, oracle_comparisons

Z = 1.959963984540054


def brute_force(labels: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and covariance from the definition: psi(x, y) = 1 if x > y, 1/2 if equal, for every
    positive x and negative y; V10 = mean over negatives, V01 = mean over positives;
    S = cov(V10) / m + cov(V01) / n."""
    y = labels.astype(bool)
    v10, v01 = [], []
    for s in scores:
        x, w = s[y][:, None], s[~y][None, :]
        psi = (x > w) + 0.5 * (x == w)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = y.sum(), (~y).sum()
    covariance = np.cov(v10) / m + np.cov(v01) / n
    return v10.mean(axis=1), np.atleast_2d(covariance)


def test_delong_matches_a_value_worked_by_hand() -> None:
    # positives 0.9, 0.6; negatives 0.5, 0.7: placements V10 = [1, 0.5], V01 = [1, 0.5]
    # AUC = 0.75; variance = var([1, .5]) / 2 + var([1, .5]) / 2 = 0.125 / 2 + 0.125 / 2
    result = delong(np.array([1, 1, 0, 0]), [np.array([0.9, 0.6, 0.5, 0.7])])
    assert result.aucs.tolist() == [0.75]
    assert result.covariance[0, 0] == pytest.approx(0.125, abs=1e-15)


def test_delong_equals_placement_values_by_brute_force_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.2
    truth = labels * 0.8 + rng.normal(size=300)
    # coarse scores: many ties, within and across the classes
    model = np.round(truth + rng.normal(scale=0.7, size=300), 1)
    oracle = np.round(truth, 2)
    result = delong(labels.astype(int), [model, oracle])
    aucs, covariance = brute_force(labels, [model, oracle])
    np.testing.assert_allclose(result.aucs, aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.covariance, covariance, rtol=1e-10, atol=0)
    assert result.aucs[0] == pytest.approx(roc_auc_score(labels, model), abs=1e-12)
    difference, se = result.difference(0, 1)
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    assert difference == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert se == pytest.approx(np.sqrt(variance), rel=1e-10)


def test_delong_needs_two_of_each_class() -> None:
    with pytest.raises(ValueError, match=r"two positives and two negatives \(1, 3\)"):
        delong(np.array([1, 0, 0, 0]), [np.arange(4.0)])


def _oracle_case(leak: float, rows: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from a true probability (the oracle); a model that sees the truth plus noise,
    and `leak` times the label itself."""
    rng = np.random.default_rng(11)
    truth = 1 / (1 + np.exp(-(rng.normal(size=rows) - 1.5)))
    labels = (rng.random(rows) < truth).astype(int)
    model = np.log(truth / (1 - truth)) + rng.normal(scale=0.8, size=rows) + leak * labels
    return labels, model, truth


def test_an_honest_model_is_below_the_oracle_and_a_leaky_one_above() -> None:
    labels, honest, truth = _oracle_case(leak=0.0)
    row = compare_with_oracle(labels, honest, truth, None, Z)
    assert row["model_auc"] < row["oracle_auc"]
    assert row["difference_ci_upper"] > row["auc_difference"] > row["difference_ci_lower"]
    assert not row["is_above_oracle"] and not row["is_above_ceiling"]
    labels, leaky, truth = _oracle_case(leak=2.0)
    row = compare_with_oracle(labels, leaky, truth, None, Z)
    assert row["auc_difference"] > 0 and row["difference_ci_lower"] > 0
    assert row["is_above_oracle"] and row["difference_p_value"] < 0.001


def test_the_declared_ceiling_judges_data_without_a_truth() -> None:
    labels, honest, _ = _oracle_case(leak=0.0)
    auc = roc_auc_score(labels, honest)
    assert compare_with_oracle(labels, honest, None, auc + 0.01, Z)["is_above_ceiling"] is False
    row = compare_with_oracle(labels, honest, None, auc - 0.01, Z)
    assert row["is_above_ceiling"] is True and row["has_truth"] is False
    assert "oracle_auc" not in row


def test_oracle_comparisons_names_the_too_good_model(tmp_path) -> None:
    labels, leaky, truth = _oracle_case(leak=2.0)
    keys = [str(i) for i in range(len(labels))]
    sidecar = tmp_path / "_truth"
    sidecar.mkdir()
    # the sidecar lacks the last 10 rows: they are left out of both AUCs
    pd.DataFrame({"Id": np.arange(len(labels) - 10), "p": truth[:-10]}).to_parquet(
        sidecar / "t.parquet"
    )
    declaration = SimpleNamespace(
        truth=SimpleNamespace(
            file="_truth/t.parquet",
            id=("Id",),
            probability="p",
            arm_probability=None,
            propensity=None,
        ),
        gates={},
    )
    tables = SimpleNamespace(name="uc", declaration=declaration)
    scores = pd.DataFrame(
        {
            "use_case": "uc",
            "model_id": "m1",
            "entity_key": keys,
            "actual_label": labels,
            "calibrated_probability": 1 / (1 + np.exp(-leaky)),
        }
    )
    table = oracle_comparisons(scores, [tables], str(tmp_path), Z)
    assert list(table.columns) == list(ORACLE_SCHEMA)
    (row,) = table.to_dict("records")
    assert row["rows_evaluated"] == len(labels) - 10 and row["rows_without_truth"] == 10
    assert row["oracle_auc"] == pytest.approx(roc_auc_score(labels[:-10], truth[:-10]), abs=1e-12)
    assert row["verdict"] == "too_good"
    assert row["message"].startswith("ml_oracle_comparison: uc model m1: test AUC ")
    # without the sidecar there is nothing to compare with: plausible, has_truth false
    table = oracle_comparisons(scores, [tables], str(tmp_path / "elsewhere"), Z)
    (row,) = table.to_dict("records")
    assert row["has_truth"] is False and row["verdict"] == "plausible"
    assert pd.isna(row["oracle_auc"])
