"""leakproof.yardsticks: the oracle (true probabilities) and a plain standardised logistic
regression, on the test split the model of record is evaluated on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from leakproof import train as T
from leakproof import whatif, yardsticks
from test_train import demo_spec, synthetic_frame


def test_oracle_auc_is_the_auc_of_the_true_probabilities(tmp_path) -> None:
    rng = np.random.default_rng(1)
    ids = np.arange(1, 2001)
    truth = expit(rng.normal(-2.0, 1.0, size=ids.size))
    path = tmp_path / "truth.parquet"
    pd.DataFrame({"customer_id": ids, "p": truth}).to_parquet(path)
    source = whatif.TruthSource(path, ("customer_id",), "p")
    test = pd.DataFrame(
        {"entity_key": [str(i) for i in ids[::-1]], "y": (rng.random(ids.size) < truth[::-1])}
    )
    expected = roc_auc_score(test.y, truth[::-1])
    assert yardsticks.oracle_auc(source, test, "y") == pytest.approx(expected, abs=1e-15)
    unknown = pd.concat([test, pd.DataFrame({"entity_key": ["99999"], "y": [True]})])
    assert np.isnan(yardsticks.oracle_auc(source, unknown, "y"))


def test_plain_logistic_is_a_standardised_logistic_regression_on_the_features() -> None:
    frame = synthetic_frame(4000, seed=4, n_score=0, missing_rate=0.0)
    spec = demo_spec("unused")
    got = yardsticks.plain_logistic_auc(frame, spec)
    # The same model written by hand: z-scored numerics, every category but the first a dummy,
    # L2 at C = 1, solved to convergence by another solver.
    numeric = frame[list(spec.numeric_features)]
    train = frame.split == "train"
    z = (numeric - numeric[train].mean()) / numeric[train].std(ddof=0)
    dummies = pd.get_dummies(frame[list(spec.categorical_features)], drop_first=True)
    design = pd.concat([z, dummies], axis=1).astype(float)
    model = LogisticRegression(tol=1e-12, max_iter=10_000).fit(
        design[train], frame.converted[train]
    )
    expected = roc_auc_score(frame.converted[~train], model.decision_function(design[~train]))
    assert got == pytest.approx(expected, abs=1e-6)
    assert got > 0.8


def test_the_plain_logistic_is_the_simplest_candidate_of_the_selection(tmp_path) -> None:
    # The baseline is the logistic / none candidate, fitted by leakproof's pipeline on the same
    # rows: the same test AUC, so a model of record chosen by the tie rule is never below it.
    frame = synthetic_frame(4000, seed=6, n_score=0)
    spec = demo_spec(
        tmp_path,
        families=("xgboost", "logistic"),
        primary_family=None,
        imbalance_treatments=("none", "class_weight"),
    )
    result = T.train(frame, spec, save=False, score_rows=False)
    comparison = result.comparison.set_index(["algorithm", "imbalance_treatment"])
    plain = yardsticks.plain_logistic_auc(frame, spec)
    assert comparison.loc[("logistic_l2", "none"), "test_auc"] == pytest.approx(plain, abs=1e-6)
    # and it is the model of record here: nothing beats its CV AUC by the tolerance
    primary = result.registry[result.registry.role == "primary"].iloc[0]
    assert (primary.algorithm, primary.imbalance_treatment) == ("logistic_l2", "none")
    assert primary.test_auc == pytest.approx(plain, abs=1e-6)
