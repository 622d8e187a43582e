"""leakproof.yardsticks: the oracle (true probabilities) and a plain standardised logistic
regression, on the test split the model of record is evaluated on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

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
    # The same model written by hand: z-scored numerics, every category a dummy, default L2.
    numeric = frame[list(spec.numeric_features)]
    train = frame.split == "train"
    z = (numeric - numeric[train].mean()) / numeric[train].std(ddof=0)
    design = pd.concat([z, pd.get_dummies(frame[list(spec.categorical_features)])], axis=1)
    model = LogisticRegression(max_iter=1000, tol=1e-10).fit(
        design[train].astype(float), frame.converted[train]
    )
    expected = roc_auc_score(
        frame.converted[~train], model.decision_function(design[~train].astype(float))
    )
    assert got == pytest.approx(expected, abs=2e-4)
    assert got > 0.8
