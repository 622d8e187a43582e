"""leakproof.train._tuning: XGBoost tuned inside the rows it is fitted on - a seeded search with
early stopping on an inner validation part, within a declared budget of boosting rounds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from xgboost import XGBClassifier

from leakproof import train as T
from leakproof.train import _families, _tuning
from test_train import demo_spec, synthetic_frame


@pytest.fixture(scope="module")
def design() -> tuple[np.ndarray, np.ndarray]:
    frame = synthetic_frame(3000, seed=5)
    frame = frame[frame.split == "train"]
    spec = demo_spec("unused")
    x = T.make_preprocessor("xgboost", spec).fit_transform(T.design_frame(frame, spec))
    return x, frame.converted.to_numpy().astype(np.int64)


def test_the_search_starts_from_the_declared_parameters_and_is_seeded() -> None:
    spec = demo_spec("unused", xgboost_search=5)
    configurations = _tuning.search_configurations(spec)
    assert len(configurations) == 5
    assert configurations[0] == {
        "max_depth": 3,
        "learning_rate": 0.05,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
    }
    assert len({json.dumps(c, sort_keys=True) for c in configurations}) == 5
    assert configurations == _tuning.search_configurations(demo_spec("unused", xgboost_search=5))
    other = _tuning.search_configurations(demo_spec("unused", xgboost_search=5, seed=7))
    assert other[0] == configurations[0] and other[1:] != configurations[1:]


def test_tuning_picks_the_lowest_inner_log_loss_within_the_round_budget(design) -> None:
    x, y = design
    spec = demo_spec("unused", xgboost_search=4, xgboost_max_rounds=60, xgboost_early_stopping=5)
    tuned = T.tune_xgboost(spec, x, y)
    assert set(tuned) == set(_tuning.TUNED_KEYS)
    assert 1 <= tuned["n_estimators"] <= 60
    # Recomputed by hand: each configuration on the same inner split, the best inner AUC wins.
    rows = np.arange(len(y))
    fit, valid = _tuning.train_test_split(rows, test_size=0.2, stratify=y, random_state=spec.seed)
    scores = []
    for config in _tuning.search_configurations(spec):
        model = XGBClassifier(
            **{**spec.xgboost_params, **config, "n_estimators": 60, "random_state": spec.seed},
            early_stopping_rounds=5,
            eval_metric="logloss",
        )
        model.fit(x[fit], y[fit], eval_set=[(x[valid], y[valid])], verbose=False)
        scores.append((model.best_score, model.best_iteration + 1, config))
    best = min(scores, key=lambda s: s[0])  # the lowest log loss; first of equal ones
    assert tuned == {**best[2], "n_estimators": best[1]}
    # Deterministic, and off when the search is 0 or the rows too few.
    assert T.tune_xgboost(spec, x, y) == tuned
    assert T.tune_xgboost(demo_spec("unused", xgboost_search=0), x, y) == {}
    assert T.tune_xgboost(spec, x[:40], np.r_[np.ones(5), np.zeros(35)].astype(int)) == {}


def test_each_fold_is_tuned_on_its_own_training_rows(tmp_path) -> None:
    frame = synthetic_frame(2500, seed=3)
    spec = demo_spec(
        tmp_path,
        families=("xgboost",),
        imbalance_treatments=("none",),
        xgboost_search=3,
        xgboost_max_rounds=80,
        n_folds=3,
    )
    result = T.train(frame, spec, save=False)
    folds = result.cv_folds
    train = frame[frame.split == "train"]
    y = train.converted.to_numpy().astype(np.int64)
    x = T.design_frame(train, spec)
    for (fit_rows, _), logged in zip(
        T.make_folds(y, None, spec.n_folds, spec.seed), folds.tuned_params, strict=True
    ):
        design = T.make_preprocessor("xgboost", spec).fit_transform(x.iloc[fit_rows])
        assert json.loads(logged) == T.tune_xgboost(spec, design, y[fit_rows])
    # The model of record carries the parameters tuned on all training rows.
    design = T.make_preprocessor("xgboost", spec).fit_transform(x)
    final = T.tune_xgboost(spec, design, y)
    params = json.loads(result.registry.params.item())
    assert {k: params[k] for k in final} == final
    assert result.primary.estimator.n_estimators == final["n_estimators"]
    # Its calibrator is fitted on OOF logits of fold models with those same parameters (the
    # refit's), not on the differently tuned fold models of the nested CV.
    assert result.comparison.calibration_fitted_on.tolist() == ["refit_params"]
    oof = np.zeros(len(y))
    for fit_rows, valid_rows in T.make_folds(y, None, spec.n_folds, spec.seed):
        prep = T.make_preprocessor("xgboost", spec)
        design = prep.fit_transform(x.iloc[fit_rows])
        model = _families._estimator("xgboost", "none", spec, y[fit_rows], final)
        model.fit(design, y[fit_rows])
        oof[valid_rows] = T.model_margin(model, prep.transform(x.iloc[valid_rows]))
    calibrator = result.primary.calibrator
    expected = T.fit_calibrator(calibrator.method, oof, y)
    probe = np.linspace(-6, 2, 9)
    np.testing.assert_allclose(calibrator.predict(probe), expected.predict(probe), rtol=1e-6)


def _calibration_line(y: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of y ~ logit(p), as ml_evaluation_summary fits it (clipped 1e-12)."""
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression

    x = logit(np.clip(probability, 1e-12, 1 - 1e-12))[:, None]
    fit = LogisticRegression(C=1e12, tol=1e-10, max_iter=1000).fit(x, y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


@pytest.mark.parametrize("seed", [2, 3])
def test_calibration_passes_the_gates_with_few_positives(tmp_path, seed: int) -> None:
    # ~1.5 % positives, ~150 of them in training: a tuned XGBoost overfits easily here, and its
    # calibrated test probabilities must still pass the default gates (slope 0.5-1.5,
    # intercept -1..1).
    frame = synthetic_frame(12_000, seed=seed, intercept=-6.0, n_score=0)
    spec = demo_spec(
        tmp_path,
        families=("xgboost",),
        imbalance_treatments=("none", "class_weight"),
        xgboost_search=3,
        seed=seed,
    )
    result = T.train(frame, spec, save=False)
    test = result.scores[result.scores.split == "test"]
    y = test.actual_label.astype(int).to_numpy()
    assert 40 <= y.sum() <= 120
    intercept, slope = _calibration_line(y, test.calibrated_probability.to_numpy())
    assert 0.5 <= slope <= 1.5, (intercept, slope)
    assert -1.0 <= intercept <= 1.0, (intercept, slope)
