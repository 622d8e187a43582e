"""leakproof.train: candidates, CV, imbalance, calibration, thresholds, final fit and scoring.

Synthetic data with a known logistic data-generating process (DGP); every test asserts values.
The session fixtures ``demo_run`` / ``demo_frame`` are shared with test_explain and test_artifacts.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import f1_score, roc_auc_score

from leakproof import train as T
from leakproof.train import _families, _scoring

# The DGP: log-odds = INTERCEPT + sum(coef * x) + channel effect + platform effect.
COEFFICIENTS = {"x1": 1.5, "x2": -1.0, "x3": 0.6, "noise": 0.0}
CHANNEL_EFFECTS = {"Email": 0.0, "PPC": 0.2, "Referral": 0.9, "SEO": -0.6, "Display": 0.3}
PLATFORM_EFFECTS = {"Facebook": 0.0, "Instagram": 0.1, "LinkedIn": 0.5}
NUMERIC = tuple(COEFFICIENTS)
CATEGORICAL = ("channel", "platform")


def synthetic_frame(
    n: int = 5000,
    *,
    seed: int = 0,
    intercept: float = -1.5,
    n_score: int = 200,
    test_fraction: float = 0.25,
    missing_rate: float = 0.05,
) -> pd.DataFrame:
    """Labelled rows (split train/test) and unlabelled 'score' rows drawn from the DGP."""
    rng = np.random.default_rng(seed)
    total = n + n_score
    x = rng.normal(size=(total, len(COEFFICIENTS)))
    channel = rng.choice(list(CHANNEL_EFFECTS), total)
    platform = rng.choice(list(PLATFORM_EFFECTS), total)
    logit = (
        intercept
        + x @ np.array(list(COEFFICIENTS.values()))
        + pd.Series(channel).map(CHANNEL_EFFECTS).to_numpy()
        + pd.Series(platform).map(PLATFORM_EFFECTS).to_numpy()
    )
    converted = (rng.random(total) < expit(logit)).astype(float)
    frame = pd.DataFrame(x, columns=list(COEFFICIENTS))
    frame.loc[rng.random(total) < missing_rate, "x3"] = np.nan
    frame.insert(0, "customer_id", np.arange(1, total + 1))
    frame["channel"] = channel
    frame["platform"] = platform
    split = np.where(rng.random(total) < test_fraction, "test", "train").astype(object)
    split[n:] = "score"
    converted[n:] = np.nan
    frame["converted"] = converted
    frame["split"] = split
    return frame


def demo_spec(artifact_dir: Path | str, **overrides: object) -> T.ModelSpec:
    values: dict[str, object] = {
        "use_case": "demo",
        "id_columns": ["customer_id"],
        "target": "converted",
        "numeric_features": NUMERIC,
        "categorical_features": CATEGORICAL,
        "artifact_dir": str(artifact_dir),
        # Pinned, so the shared demo run has an XGBoost model of record to explain; the rule
        # that chooses by CV (no pin) has its own tests.
        "primary_family": "xgboost",
        # Fixed XGBoost parameters keep the many runs here cheap; tuning has test_tuning.
        "xgboost_search": 0,
    }
    values.update(overrides)
    return T.ModelSpec(**values)


@pytest.fixture(scope="session")
def demo_frame() -> pd.DataFrame:
    return synthetic_frame()


@pytest.fixture(scope="session")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory, demo_frame: pd.DataFrame
) -> tuple[T.ModelSpec, T.TrainResult]:
    """One full training run (both families x three treatments) with saved artifacts."""
    spec = demo_spec(tmp_path_factory.mktemp("artifacts"))
    return spec, T.train(demo_frame, spec)


# --- selection, quality ----------------------------------------------------------------------


def test_every_family_and_treatment_is_compared(demo_run) -> None:
    _, result = demo_run
    comparison = result.comparison
    assert len(comparison) == 6
    assert set(zip(comparison.algorithm, comparison.imbalance_treatment, strict=True)) == {
        (a, t) for a in ("xgboost", "logistic_l2") for t in ("none", "class_weight", "smote")
    }
    assert (comparison.status == "ok").all()
    assert comparison.cv_folds.eq(5).all()
    for column in ("cv_auc_mean", "test_auc", "test_pr_auc", "test_f1", "test_brier_calibrated"):
        assert comparison[column].between(0, 1).all(), column


def test_chosen_candidate_is_the_best_by_cv_auc(demo_run) -> None:
    """Per family: the simplest treatment among those within selection_tolerance of the best
    mean CV AUC (a tie), the higher AUC among equally simple ones."""
    spec, result = demo_run
    comparison = result.comparison
    order = {t: i for i, t in enumerate(spec.imbalance_treatments)}
    for algorithm, rows in comparison.groupby("algorithm"):
        chosen = rows[rows.is_chosen_for_family]
        assert len(chosen) == 1, algorithm
        ties = rows[rows.cv_auc_mean >= rows.cv_auc_mean.max() - spec.selection_tolerance]
        simplest = ties.assign(rank=ties.imbalance_treatment.map(order)).sort_values(
            ["rank", "cv_auc_mean"], ascending=[True, False]
        )
        assert chosen.imbalance_treatment.iloc[0] == simplest.imbalance_treatment.iloc[0]
    # The registry holds exactly the chosen candidates; XGBoost is the primary (demo_spec pins it).
    registry = result.registry.set_index("algorithm")
    chosen = comparison[comparison.is_chosen_for_family].set_index("algorithm")
    assert set(registry.index) == {"xgboost", "logistic_l2"}
    for algorithm in registry.index:
        assert registry.loc[algorithm, "model_id"] == chosen.loc[algorithm, "model_id"]
        assert (
            registry.loc[algorithm, "imbalance_treatment"]
            == chosen.loc[algorithm, "imbalance_treatment"]
        )
        assert registry.loc[algorithm, "cv_auc_mean"] == chosen.loc[algorithm, "cv_auc_mean"]
    assert registry.loc["xgboost", "role"] == "primary"
    assert registry.loc["logistic_l2", "role"] == "comparison"
    assert comparison.is_primary.sum() == 1


def test_selection_ties_go_to_the_simpler_family_then_treatment() -> None:
    spec = demo_spec("unused")

    def candidate(family: str, treatment: str, mean: float, sd: float) -> T.Candidate:
        c = T.Candidate(family, treatment)
        c.metrics = {"cv_auc_mean": mean, "cv_auc_sd": sd}
        return c

    tied = [candidate("logistic", "smote", 0.8, 0.01), candidate("logistic", "none", 0.8, 0.02)]
    assert T.select_candidate(tied, spec).treatment == "none"
    same = [
        candidate("logistic", "smote", 0.8, 0.01),
        candidate("logistic", "class_weight", 0.8, 0.01),
    ]
    assert T.select_candidate(same, spec).treatment == "class_weight"
    best = candidate("xgboost", "smote", 0.81, 0.5)
    assert T.select_candidate([*same, best], spec) is best
    families = [candidate("xgboost", "none", 0.8, 0.0), candidate("logistic", "smote", 0.8, 0.1)]
    assert T.select_candidate(families, spec).family == "logistic"
    families.append(best)
    assert T.select_candidate(families, spec) is best
    # Within selection_tolerance (0.005 by default) of the best is a tie: the simpler model wins.
    close = candidate("logistic", "none", 0.806, 0.0)
    assert T.select_candidate([*families, close], spec) is close
    assert T.select_candidate([*families, candidate("logistic", "none", 0.804, 0.0)], spec) is best
    strict = demo_spec("unused", selection_tolerance=0.0)
    assert T.select_candidate([*families, close], strict) is best


def test_strong_signal_gives_auc_above_0_8(demo_run, demo_frame) -> None:
    _, result = demo_run
    assert (result.registry.test_auc > 0.8).all()
    scores = result.scores[result.scores.split == "test"]
    auc = roc_auc_score(scores.actual_label.astype(int), scores.calibrated_probability)
    assert auc > 0.8
    # The training population's honest (out-of-fold) AUC is close to the test AUC.
    train = result.scores[result.scores.split == "train"]
    oof_auc = roc_auc_score(train.actual_label.astype(int), train.oof_calibrated_probability)
    assert abs(oof_auc - auc) < 0.05


def test_best_cv_auc_selection_picks_across_families_and_says_so(tmp_path, demo_frame) -> None:
    # On a linear DGP the logistic model wins CV; without a pinned family it is the model of
    # record, and the registry and the comparison name the rule that chose it.
    spec = demo_spec(tmp_path, primary_family=None, imbalance_treatments=("none", "class_weight"))
    result = T.train(demo_frame, spec, save=False)
    comparison = result.comparison
    assert comparison.loc[comparison.cv_auc_mean.idxmax(), "algorithm"] == "logistic_l2"
    # The rule by hand: within selection_tolerance of the best CV AUC, the simplest candidate.
    tied = comparison[comparison.cv_auc_mean >= comparison.cv_auc_mean.max() - 0.005]
    simplest = tied.assign(
        family=tied.algorithm.map({"logistic_l2": 0, "xgboost": 1}),
        treatment=tied.imbalance_treatment.map({"none": 0, "class_weight": 1}),
    ).sort_values(["family", "treatment", "cv_auc_mean"], ascending=[True, True, False])
    best = simplest.iloc[0]
    primary = result.registry.set_index("role").loc["primary"]
    assert (primary.algorithm, primary.imbalance_treatment) == (
        best.algorithm,
        best.imbalance_treatment,
    )
    assert result.registry.selection_rule.eq("best_cv_auc").all()
    assert comparison.selection_rule.eq("best_cv_auc").all()
    assert comparison.loc[comparison.is_primary, "model_id"].item() == primary.model_id
    assert result.scores.model_id.eq(primary.model_id).all()
    # Pinned: the best XGBoost candidate is the model of record although logistic ranks first.
    pinned = T.train(demo_frame, demo_spec(tmp_path, imbalance_treatments=("none",)), save=False)
    assert pinned.registry.set_index("role").loc["primary", "algorithm"] == "xgboost"
    assert pinned.registry.selection_rule.eq("pinned_family").all()


def test_train_test_auc_gap_is_reported_for_every_candidate(demo_run, demo_frame) -> None:
    spec, result = demo_run
    comparison = result.comparison[result.comparison.status == "ok"]
    train_rows = demo_frame[demo_frame.split == "train"]
    y = train_rows.converted.to_numpy().astype(int)
    for candidate in result.candidates:
        if candidate.status != "ok":
            continue
        row = comparison[
            (comparison.algorithm == candidate.algorithm)
            & (comparison.imbalance_treatment == candidate.treatment)
        ].iloc[0]
        design = candidate.pipeline.named_steps["prep"].transform(T.design_frame(train_rows, spec))
        in_sample = T.model_margin(candidate.pipeline.named_steps["model"], design)
        assert row.train_auc == pytest.approx(roc_auc_score(y, in_sample), abs=1e-12)
        assert row.train_test_auc_gap == pytest.approx(row.train_auc - row.test_auc, abs=1e-12)
        assert row.max_auc_gap == spec.max_auc_gap
    registry = result.registry.set_index("model_id")
    chosen = comparison[comparison.model_id.notna()].set_index("model_id")
    for column in ("train_auc", "train_test_auc_gap"):
        assert registry[column].to_dict() == chosen[column].to_dict()


# --- folds and SMOTE -----------------------------------------------------------------------


def test_cv_fold_log_has_no_synthetic_rows_in_validation(demo_run, demo_frame) -> None:
    _, result = demo_run
    n_train = int((demo_frame.split == "train").sum())
    folds = result.cv_folds
    for (_, treatment), rows in folds.groupby(["algorithm", "imbalance_treatment"]):
        assert rows.n_valid_rows.sum() == n_train  # every original row validated exactly once
        assert (rows.n_train_rows + rows.n_valid_rows == n_train).all()
        assert (rows.n_fit_rows == rows.n_train_rows + rows.n_synthetic_rows).all()
        if treatment == "smote":
            assert (rows.n_synthetic_rows > 0).all()
        else:
            assert (rows.n_synthetic_rows == 0).all()


def test_smote_only_ever_sees_training_fold_rows(monkeypatch, demo_frame) -> None:
    seen: list[int] = []

    class RecordingSMOTE(_families.SMOTE):
        def fit_resample(self, X, y, **params):
            seen.append(len(X))
            return super().fit_resample(X, y, **params)

    monkeypatch.setattr(_families, "SMOTE", RecordingSMOTE)
    spec = demo_spec(
        "unused",
        families=("logistic",),
        primary_family="logistic",
        imbalance_treatments=("smote",),
        n_jobs=1,
    )
    frame = demo_frame[demo_frame.split != "score"]
    design = T.design_frame(frame, spec)
    train = (frame.split == "train").to_numpy()
    y = frame.converted.to_numpy().astype(int)
    folds = T.make_folds(y[train], None, spec.n_folds, spec.seed)
    (candidate,) = T.evaluate_candidates(
        spec, design[train], y[train], design[~train], y[~train], folds
    )
    # SMOTE saw each fold's training rows once and all training rows once (the final fit).
    assert sorted(seen) == sorted([len(f) for f, _ in folds] + [int(train.sum())])
    # Validation logits are exactly those of a pipeline fitted on the fold's rows alone.
    fit_rows, valid_rows = folds[0]
    x_train = design[train]
    tail = _families._resampling_model(
        "logistic", "smote", spec, y[train][fit_rows], candidate.smote_k
    )
    pipeline = _families.ImbPipeline([("prep", T.make_preprocessor("logistic", spec)), *tail.steps])
    pipeline.fit(x_train.iloc[fit_rows], y[train][fit_rows])
    valid_design = pipeline.named_steps["prep"].transform(x_train.iloc[valid_rows])
    expected = T.model_margin(pipeline.named_steps["model"], valid_design)
    np.testing.assert_array_equal(candidate.oof_margin[valid_rows], expected)


def test_xgboost_treatments_share_one_sketch_and_fit_as_xgbclassifier_would(
    tmp_path, demo_frame
) -> None:
    spec = demo_spec(tmp_path, families=("xgboost",), primary_family="xgboost", n_jobs=1)
    frame = demo_frame[demo_frame.split == "train"]
    preprocessor = T.make_preprocessor("xgboost", spec)
    design = preprocessor.fit_transform(T.design_frame(frame, spec))
    y = frame.converted.to_numpy().astype(int)
    candidates = [T.Candidate("xgboost", t, smote_k=5) for t in T.TREATMENTS]
    none, weighted, smote = T.fit_treatments("xgboost", candidates, spec, design, y)

    def margin(tail) -> np.ndarray:
        return T.model_margin(tail.named_steps["model"], design)

    # 'none' and 'class_weight' are bit for bit what XGBClassifier.fit(design, y) gives.
    for tail, treatment in ((none, "none"), (weighted, "class_weight")):
        reference = _families._estimator("xgboost", treatment, spec, y).fit(design, y)
        np.testing.assert_array_equal(margin(tail), T.model_margin(reference, design))
    assert not np.array_equal(margin(none), margin(weighted))
    # SMOTE: the resampled rows, binned with the real rows' cuts; not XGBoost's own sketch of
    # the resampled rows (the cuts differ, so the model does).
    model = smote.named_steps["model"]
    rows, labels = _families.SMOTE(k_neighbors=5, random_state=spec.seed).fit_resample(design, y)
    assert smote.named_steps["smote"].sampling_strategy_ == {1: int((y == 0).sum() - y.sum())}
    real = _families._quantile_matrix(model, design, y)
    expected = _families.xgboost.train(
        model.get_xgb_params(),
        _families._quantile_matrix(model, rows, labels, ref=real),
        model.get_num_boosting_rounds(),
    )
    got = T.model_margin(model, design)
    np.testing.assert_array_equal(got, expected.inplace_predict(design, predict_type="margin"))
    own_sketch = _families._estimator("xgboost", "smote", spec, labels).fit(rows, labels)
    assert not np.array_equal(got, T.model_margin(own_sketch, design))
    # The fitted models are ordinary XGBClassifiers: probabilities, and a joblib round trip.
    probability = none.named_steps["model"].predict_proba(design)[:, 1]
    np.testing.assert_allclose(probability, expit(margin(none)), rtol=1e-6)
    path = tmp_path / "model.joblib"
    joblib.dump(none.named_steps["model"], path)
    np.testing.assert_array_equal(T.model_margin(joblib.load(path), design), margin(none))


def test_group_folds_keep_an_entity_in_one_fold() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(400), 3)
    y = (rng.random(len(groups)) < 0.3).astype(int)
    folds = T.make_folds(y, groups.astype(str), 5, seed=7)
    assert len(folds) == 5
    for fit_rows, valid_rows in folds:
        assert not set(groups[fit_rows]) & set(groups[valid_rows])
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(y)))


def test_group_folds_are_stratified_balanced_and_independent_of_row_order() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(3000), rng.integers(1, 6, size=3000))
    y = (rng.random(len(groups)) < 0.2).astype(int)
    folds = T.make_folds(y, groups.astype(str), 5, seed=7)
    rates = [y[valid].mean() for _, valid in folds]
    sizes = [len(valid) for _, valid in folds]
    assert max(rates) - min(rates) < 0.01  # stratified: every fold near the 20 % rate
    assert max(sizes) / min(sizes) < 1.05
    shuffled = rng.permutation(len(y))
    again = T.make_folds(y[shuffled], groups[shuffled].astype(str), 5, seed=7)
    as_sets = {frozenset(groups[v]) for _, v in folds}
    assert {frozenset(groups[shuffled][v]) for _, v in again} == as_sets
    other = T.make_folds(y, groups.astype(str), 5, seed=8)
    assert {frozenset(groups[v]) for _, v in other} != as_sets


def test_cv_fold_column_is_used_as_given(tmp_path, demo_frame) -> None:
    frame = demo_frame.copy()
    train = frame.split == "train"
    frame["cv_fold"] = np.where(train, np.arange(len(frame)) % 3, np.nan)
    spec = demo_spec(
        tmp_path,
        cv_fold_column="cv_fold",
        families=("logistic",),
        primary_family="logistic",
        imbalance_treatments=("none",),
    )
    result = T.train(frame, spec, save=False)
    sizes = result.cv_folds.n_valid_rows.tolist()
    assert sizes == frame[train].groupby("cv_fold").size().tolist()
    assert result.registry.cv_folds.iloc[0] == 3


# --- thresholds ------------------------------------------------------------------------------


def test_threshold_sweep_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.random(2000) * 0.6, 0, 1)
    sweep = T.threshold_sweep(y, p, T.DEFAULT_THRESHOLD_GRID, contact_cost=2, conversion_value=30)
    assert len(sweep) == 60
    assert sweep.threshold.iloc[0] == 0.01 and sweep.threshold.iloc[-1] == 0.60
    for _, row in sweep.iloc[[0, 17, 42, 59]].iterrows():
        predicted = (p >= row.threshold).astype(int)
        assert row.tp == int(((predicted == 1) & (y == 1)).sum())
        assert row.fp == int(((predicted == 1) & (y == 0)).sum())
        assert row.tp + row.fp + row.tn + row.fn == 2000
        assert row.f1 == pytest.approx(f1_score(y, predicted, zero_division=0.0))
        assert row.expected_value == 30 * row.tp - 2 * (row.tp + row.fp)
        assert row.expected_cost == -row.expected_value
    chosen = T.choose_thresholds(sweep)
    assert chosen["f1"] == sweep.threshold[sweep.f1.idxmax()]
    assert chosen["cost"] == sweep.threshold[sweep.expected_value.idxmax()]


def test_thresholds_are_chosen_on_oof_training_predictions(demo_run, demo_frame) -> None:
    _, result = demo_run
    sweep = result.threshold_sweep
    for model_id, row in result.registry.set_index("model_id").iterrows():
        oof = sweep[(sweep.model_id == model_id) & (sweep.population == "train_oof")]
        test = sweep[(sweep.model_id == model_id) & (sweep.population == "test")]
        assert len(oof) == len(test) == 60
        assert row.threshold_f1 == oof.threshold[oof.f1.idxmax()]
        assert row.threshold_cost == oof.threshold[oof.expected_value.idxmax()]
        assert row.threshold == row.threshold_f1  # threshold_objective='f1' (default)
        assert oof.n_rows.iloc[0] == (demo_frame.split == "train").sum()
        assert test.n_rows.iloc[0] == (demo_frame.split == "test").sum()
        assert test.loc[test.is_model_threshold, "threshold"].tolist() == [row.threshold]
    # The predicted label applies the model threshold to the calibrated probability.
    scores = result.scores
    threshold = result.primary.threshold
    assert (scores.predicted_label == (scores.calibrated_probability >= threshold)).all()


def test_test_labels_never_move_a_threshold(tmp_path, demo_run, demo_frame) -> None:
    _, result = demo_run
    permuted = demo_frame.copy()
    test = permuted.split == "test"
    rng = np.random.default_rng(11)
    permuted.loc[test, "converted"] = rng.permutation(permuted.loc[test, "converted"].to_numpy())
    again = T.train(permuted, demo_spec(tmp_path), save=False)
    columns = ["model_id", "threshold", "threshold_f1", "threshold_cost", "cv_auc_mean"]
    pd.testing.assert_frame_equal(again.registry[columns], result.registry[columns])
    oof = result.threshold_sweep.population == "train_oof"
    pd.testing.assert_frame_equal(
        again.threshold_sweep[oof].reset_index(drop=True),
        result.threshold_sweep[oof].reset_index(drop=True),
    )
    # ... while everything measured on the test rows does change.
    assert not np.allclose(again.registry.test_auc, result.registry.test_auc)


def test_cost_objective_sets_the_model_threshold(tmp_path, demo_frame) -> None:
    spec = demo_spec(
        tmp_path,
        threshold_objective="cost",
        contact_cost=1.0,
        conversion_value=4.0,
        families=("logistic",),
        primary_family="logistic",
        imbalance_treatments=("none",),
    )
    result = T.train(demo_frame, spec, save=False)
    row = result.registry.iloc[0]
    assert row.threshold == row.threshold_cost
    # With calibrated probabilities, contacting pays when p > cost / value = 0.25.
    assert 0.15 <= row.threshold_cost <= 0.35


# --- calibration -----------------------------------------------------------------------------


def test_platt_recovers_a_known_miscalibration() -> None:
    rng = np.random.default_rng(5)
    margin = rng.normal(scale=2.0, size=40_000)
    y = (rng.random(margin.size) < expit(0.5 * margin - 1.0)).astype(int)
    calibrator = T.fit_calibrator("sigmoid", margin, y)
    assert calibrator.slope == pytest.approx(0.5, abs=0.03)
    assert calibrator.intercept == pytest.approx(-1.0, abs=0.05)
    isotonic = T.fit_calibrator("isotonic", margin, y)
    p = isotonic.predict(np.array([-50.0, 0.0, 50.0]))
    assert 0.0 <= p[0] <= p[1] <= p[2] <= 1.0


def test_isotonic_calibration_is_never_exactly_0_or_1() -> None:
    # The lowest 2,000 scores never convert and the highest 500 always do: their isotonic
    # blocks (0 and 1) become the Jeffreys estimates 0.5 / (n + 1) of their rows.
    margin = np.linspace(-5, 5, 10_000)
    rng = np.random.default_rng(0)
    y = (rng.random(margin.size) < 0.3).astype(int)
    y[:2000], y[-500:] = 0, 1
    calibrator = T.fit_calibrator("isotonic", margin, y)
    raw = IsotonicRegression(out_of_bounds="clip").fit(margin, y).predict(margin)
    zeros, ones = int((raw == 0).sum()), int((raw == 1).sum())
    assert zeros >= 2000 and ones >= 500
    p = calibrator.predict(np.array([-9.0, -5.0, 0.0, 5.0, 9.0]))
    np.testing.assert_allclose(
        p[[0, 1, 3, 4]], [0.5 / (zeros + 1)] * 2 + [1 - 0.5 / (ones + 1)] * 2
    )
    # the blocks in between are the plain isotonic fit's
    assert p[2] == pytest.approx(np.interp(0.0, margin, raw))


def test_calibration_is_chosen_by_cross_fitted_brier(demo_run) -> None:
    _, result = demo_run
    for _, row in result.comparison.iterrows():
        brier = json.loads(row.calibration_cv_brier)
        assert set(brier) == {"sigmoid", "isotonic"}
        assert row.calibration_method == min(brier, key=lambda m: (brier[m], m != "sigmoid"))
        assert row.cv_brier_calibrated == pytest.approx(brier[row.calibration_method])
    # Class weights and SMOTE distort raw probabilities; calibration repairs them.
    weighted = result.comparison[result.comparison.imbalance_treatment != "none"]
    assert (weighted.cv_brier_calibrated < weighted.cv_brier_raw).all()


# --- scores ----------------------------------------------------------------------------------


def test_scores_have_one_row_per_input_row(demo_run, demo_frame) -> None:
    _, result = demo_run
    scores = result.scores
    assert len(scores) == len(demo_frame)
    assert scores.customer_id.tolist() == demo_frame.customer_id.tolist()
    assert scores.split.tolist() == demo_frame.split.tolist()
    assert scores.actual_label.isna().tolist() == (demo_frame.split == "score").tolist()
    np.testing.assert_allclose(scores.raw_probability, expit(scores.raw_logit), rtol=0, atol=0)
    assert scores.calibrated_probability.between(0, 1).all()
    assert (
        scores.oof_calibrated_probability.notna().tolist() == (demo_frame.split == "train").tolist()
    )
    for split, rows in scores.groupby("split"):
        counts = rows.decile.value_counts().sort_index()
        assert counts.index.tolist() == list(range(1, 11)), split
        assert counts.max() - counts.min() <= 1
        # Decile 1 holds the highest scores.
        means = rows.groupby("decile").raw_logit.mean()
        assert means.is_monotonic_decreasing
    assert set(scores.predicted_label) <= {0, 1}


def test_score_frame_equals_predict_proba_frame_in_any_chunking(
    monkeypatch, demo_run, demo_frame
) -> None:
    _, result = demo_run
    for bundle in result.bundles.values():
        whole = T.predict_proba_frame(bundle, demo_frame)
        monkeypatch.setattr(_scoring, "SCORE_CHUNK_ROWS", 777)
        chunked = T.predict_proba_frame(bundle, demo_frame)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(whole, chunked, check_exact=True)
        scored = T.score_frame(bundle, demo_frame)
        np.testing.assert_array_equal(scored.raw_logit, whole.raw_logit)
        np.testing.assert_array_equal(scored.calibrated_probability, whole.calibrated_probability)


def test_reason_codes_do_not_depend_on_the_chunking(monkeypatch, demo_run, demo_frame) -> None:
    _, result = demo_run
    for bundle in result.bundles.values():
        whole = T.score_frame(bundle, demo_frame)
        monkeypatch.setattr(_scoring, "SCORE_CHUNK_ROWS", 333)
        chunked = T.score_frame(bundle, demo_frame)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(whole, chunked, check_exact=True)
        assert whole.reason_1.notna().mean() > 0.5


def test_training_sample_is_stratified_seeded_and_order_free() -> None:
    frame = synthetic_frame(n=4000, n_score=0, test_fraction=0.0)
    y = frame.converted.to_numpy(dtype=np.int64)
    spec = demo_spec("unused", max_training_rows=1000)
    sample = T.training_sample(frame, y, spec)
    assert len(sample) == pytest.approx(1000, abs=1)
    assert np.all(np.diff(sample) > 0)
    assert y[sample].sum() == round(y.sum() * 1000 / 4000)  # the class balance, to a row
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = T.training_sample(shuffled, shuffled.converted.to_numpy(dtype=np.int64), spec)
    assert set(shuffled.customer_id.iloc[again]) == set(frame.customer_id.iloc[sample])
    other_seed = T.training_sample(frame, y, demo_spec("unused", max_training_rows=1000, seed=7))
    assert set(other_seed) != set(sample)
    assert len(T.training_sample(frame, y, demo_spec("unused", max_training_rows=None))) == 4000


def test_training_sample_keeps_whole_groups() -> None:
    frame = synthetic_frame(n=3000, n_score=0, test_fraction=0.0)
    frame["account"] = frame.customer_id % 700
    y = frame.converted.to_numpy(dtype=np.int64)
    spec = demo_spec("unused", max_training_rows=1000, cv_group_column="account")
    sample = T.training_sample(frame, y, spec)
    assert 990 <= len(sample) <= 1000
    kept = set(frame.account.iloc[sample])
    assert frame.account.isin(kept).sum() == len(sample)  # every row of a kept account


def test_a_training_cap_with_groups_that_are_also_ids(tmp_path) -> None:
    frame = synthetic_frame(n=3000, n_score=0)
    frame["account"] = (frame.customer_id % 600).astype(str)
    frame["wave"] = frame.groupby("account").cumcount()
    spec = demo_spec(
        tmp_path,
        id_columns=("account", "wave"),
        cv_group_column="account",
        max_training_rows=1000,
        families=("logistic",),
        primary_family="logistic",
        imbalance_treatments=("none",),
    )
    result = T.train(frame, spec, save=False, score_rows=False)
    row = result.registry.iloc[0]
    assert 990 <= row.training_rows <= 1000 < row.training_split_rows
    assert result.cv_folds.n_valid_rows.sum() == row.training_rows


def test_a_training_cap_fits_on_the_sample_and_still_scores_every_row(tmp_path, demo_frame) -> None:
    spec = demo_spec(tmp_path, max_training_rows=1500, families=("xgboost",))
    result = T.train(demo_frame, spec, save=False)
    train = demo_frame[demo_frame.split == "train"]
    row = result.registry.iloc[0]
    assert row.training_rows == pytest.approx(1500, abs=1)
    assert row.training_split_rows == len(train)
    assert (
        result.cv_folds.groupby("imbalance_treatment")
        .n_valid_rows.sum()
        .eq(row.training_rows)
        .all()
    )
    assert len(result.scores) == len(demo_frame)  # every row is scored
    in_sample = result.scores.split.eq("train") & result.scores.oof_calibrated_probability.notna()
    assert in_sample.sum() == row.training_rows  # out-of-fold scores exist for fitted rows only
    assert row.test_auc > 0.8
    assert result.feature_importance.mean_abs_shap.gt(0).any()
    fitted = T.training_sample(train, train.converted.to_numpy(dtype=np.int64), spec)
    assert row.training_data_sha256 == T.training_data_sha256(train.iloc[fitted], spec)


def test_fast_encoder_is_bit_identical_to_the_column_transformer(demo_run, demo_frame) -> None:
    spec, result = demo_run
    frame = demo_frame.copy()
    frame.loc[:9, "channel"] = "Carrier pigeon"  # unseen category
    frame.loc[10:19, "platform"] = None  # missing category
    frame.loc[20:29, "x1"] = np.nan  # missing numeric
    frame["x2"] = frame["x2"].astype("float32").astype("float64")
    for bundle in result.bundles.values():
        fast = bundle.design_matrix(frame)
        with warnings.catch_warnings():  # sklearn warns that the unseen category encodes as 0s
            warnings.simplefilter("ignore", UserWarning)
            slow = bundle.pipeline.named_steps["prep"].transform(T.design_frame(frame, spec))
        np.testing.assert_array_equal(fast, slow)
        assert not fast[:10, [j for j, (f, _) in enumerate(bundle.columns) if f == "channel"]].any()


def test_determinism_two_builds_give_identical_scores(tmp_path, demo_run, demo_frame) -> None:
    _, result = demo_run
    again = T.train(demo_frame, demo_spec(tmp_path, n_jobs=1))  # other threads, other directory
    pd.testing.assert_frame_equal(again.scores, result.scores, check_exact=True)
    assert again.registry.model_id.tolist() == result.registry.model_id.tolist()
    assert again.registry.training_data_sha256.equals(result.registry.training_data_sha256)
    pd.testing.assert_frame_equal(again.comparison, result.comparison, check_exact=True)
    pd.testing.assert_frame_equal(again.threshold_sweep, result.threshold_sweep, check_exact=True)


def test_scoring_without_retraining_reproduces_the_training_scores(demo_run, demo_frame) -> None:
    _, result = demo_run
    scored = T.score(demo_frame, result.registry)  # the primary row; loads and verifies
    pd.testing.assert_frame_equal(scored, result.scores, check_exact=True)
    comparison_row = result.registry[result.registry.role == "comparison"].iloc[0]
    other = T.score(demo_frame.drop(columns=["converted"]), comparison_row)
    assert other.model_id.eq(comparison_row.model_id).all()
    assert other.actual_label.isna().all()


# --- hashing, ids, registry ------------------------------------------------------------------


def test_training_data_hash_is_canonical(demo_frame) -> None:
    spec = demo_spec("unused")
    reference = T.training_data_sha256(demo_frame, spec)
    shuffled = demo_frame.sample(frac=1.0, random_state=3)
    retyped = demo_frame.assign(
        customer_id=demo_frame.customer_id.astype("Int64"),
        converted=demo_frame.converted.astype("Float64"),
        channel=demo_frame.channel.astype("category"),
        extra_column=1,
    )
    assert T.training_data_sha256(shuffled, spec) == reference
    assert T.training_data_sha256(retyped, spec) == reference
    # Test and score rows are not training data; a changed training label is.
    moved = demo_frame.copy()
    moved.loc[moved.split == "test", "x1"] += 1.0
    assert T.training_data_sha256(moved, spec) == reference
    flipped = demo_frame.copy()
    first = flipped.index[flipped.split == "train"][0]
    flipped.loc[first, "converted"] = 1.0 - flipped.loc[first, "converted"]
    assert T.training_data_sha256(flipped, spec) != reference


def test_registry_row_contents(demo_run, demo_frame) -> None:
    spec, result = demo_run
    registry = result.registry
    train = demo_frame[demo_frame.split == "train"]
    assert len(registry) == 2
    for _, row in registry.iterrows():
        assert row.model_id.startswith(f"demo-{row.algorithm.split('_')[0]}-")
        assert row.training_rows == row.training_split_rows == len(train)
        assert row.training_positives == int(train.converted.sum())
        assert row.training_negatives == len(train) - int(train.converted.sum())
        assert row.training_base_rate == pytest.approx(train.converted.mean())
        assert json.loads(row.feature_list) == list(NUMERIC + CATEGORICAL)
        versions = json.loads(row.library_versions)
        assert {"scikit-learn", "xgboost", "numpy", "pandas", "imbalanced-learn"} <= set(versions)
        assert len(row.artifact_sha256) == 64 and len(row.training_data_sha256) == 64
        assert 0 < row.cv_auc_sd < 0.1 and 0.5 < row.cv_auc_mean < 1
        assert Path(row.artifact_path).is_file() and Path(row.metadata_path).is_file()
        assert row.trained_at.tzinfo is not None
        assert json.loads(row.params)  # non-empty
    xgb = registry.set_index("algorithm").loc["xgboost"]
    assert Path(xgb.booster_json_path).suffix == ".json"
    assert json.loads(xgb.params)["max_depth"] == spec.xgboost_params["max_depth"]


def test_spec_validation_and_from_dict() -> None:
    spec = T.ModelSpec.from_dict(
        {
            "use_case": "b2b",
            "id_columns": ["account_id", "campaign_wave"],
            "target": "response_flag",
            "numeric_features": ["company_size"],
            "categorical_features": ["industry"],
            "primary_family": "logistic",
            "xgboost_params": {"n_estimators": 50},
        }
    )
    assert spec.id_columns == ("account_id", "campaign_wave")
    assert spec.xgboost_params["n_estimators"] == 50
    assert spec.xgboost_params["max_depth"] == T.DEFAULT_XGBOOST_PARAMS["max_depth"]
    assert spec.threshold_grid == tuple(round(0.01 * i, 2) for i in range(1, 61))
    with pytest.raises(ValueError, match="unknown ModelSpec keys"):
        T.ModelSpec.from_dict({"use_case": "x", "id_colums": ["id"]})
    with pytest.raises(ValueError, match="used as features"):
        demo_spec("x", numeric_features=("x1", "converted"))
    with pytest.raises(ValueError, match="primary_family"):
        demo_spec("x", families=("logistic",))


def test_bad_input_is_named_with_rows(demo_frame) -> None:
    spec = demo_spec("unused")
    bad_split = demo_frame.copy()
    bad_split.loc[bad_split.index[:3], "split"] = "validation"
    with pytest.raises(T.TrainingDataError, match=r"'split'.*3 row\(s\).*customer_id=1"):
        T.train(bad_split, spec, save=False)
    bad_target = demo_frame.copy()
    bad_target.loc[bad_target.index[4], "converted"] = 2.0
    with pytest.raises(T.TrainingDataError, match=r"'converted'.*customer_id=5"):
        T.train(bad_target, spec, save=False)
    text_in_numeric = demo_frame.astype({"x1": object})
    text_in_numeric.loc[text_in_numeric.index[6], "x1"] = "twelve"
    with pytest.raises(T.TrainingDataError, match=r"'x1'.*customer_id=7"):
        T.train(text_in_numeric, spec, save=False)
    duplicated = pd.concat([demo_frame, demo_frame.iloc[[0]]])
    with pytest.raises(T.TrainingDataError, match="not unique"):
        T.train(duplicated, spec, save=False)


# --- edge cases ------------------------------------------------------------------------------


def test_high_base_rate_trains_and_scores(tmp_path) -> None:
    frame = synthetic_frame(2500, seed=2, intercept=2.0)
    base_rate = frame.loc[frame.split == "train", "converted"].mean()
    assert 0.7 < base_rate < 0.9
    result = T.train(frame, demo_spec(tmp_path))
    assert result.registry.training_base_rate.iloc[0] == pytest.approx(base_rate)
    assert (result.registry.test_auc > 0.75).all()
    # SMOTE oversamples the minority class, which is now the non-converters.
    smote = result.cv_folds[result.cv_folds.imbalance_treatment == "smote"]
    assert (smote.n_synthetic_rows > 0).all()
    # Calibrated probabilities follow the high base rate.
    test = result.scores[result.scores.split == "test"]
    assert test.calibrated_probability.mean() == pytest.approx(
        test.actual_label.astype(float).mean(), abs=0.05
    )


def test_constant_and_unseen_categories(tmp_path) -> None:
    frame = synthetic_frame(2500, seed=4)
    frame["platform"] = "Facebook"  # constant categorical
    unseen = frame.split.isin(["test", "score"]) & (frame.channel == "SEO")
    frame.loc[unseen, "channel"] = "TikTok Live"  # only in test / score rows
    frame.loc[frame.split == "train", "channel"] = frame.loc[
        frame.split == "train", "channel"
    ].replace({"SEO": "Email"})
    result = T.train(frame, demo_spec(tmp_path))
    assert (result.registry.test_auc > 0.75).all()
    logistic = next(b for b in result.bundles.values() if b.family == "logistic")
    # drop='first' leaves no column for a one-level feature; its contribution is 0.
    assert "platform" not in set(result.coefficients.feature.dropna())
    importance = result.feature_importance.set_index(["algorithm", "feature"])
    assert importance.loc[("logistic_l2", "platform"), "mean_abs_shap"] == 0.0
    assert importance.loc[("xgboost", "platform"), "total_gain"] == 0.0
    report = T.unseen_categories(logistic, frame)
    assert report.to_dict("records") == [
        {"feature": "channel", "value": "TikTok Live", "n_rows": int(unseen.sum())}
    ]
    scored = result.scores[unseen.to_numpy()]
    assert scored.calibrated_probability.notna().all()


def _few_positives_frame(positives: int, seed: int = 8) -> pd.DataFrame:
    frame = synthetic_frame(1500, seed=seed, intercept=-2.5, test_fraction=0.0, n_score=0)
    labels = np.zeros(len(frame))
    order = np.argsort(-frame.x1.to_numpy())  # the positives are the highest x1
    labels[order[:positives]] = 1.0
    frame["converted"] = labels
    test_rows = np.random.default_rng(seed).random(len(frame)) < 0.25
    frame.loc[test_rows & (labels == 0), "split"] = "test"
    return frame


def test_twelve_positives_train_without_crashing(tmp_path) -> None:
    result = T.train(_few_positives_frame(12), demo_spec(tmp_path))
    smote = result.comparison.set_index(["algorithm", "imbalance_treatment"])
    assert (result.comparison.status == "ok").all()
    assert smote.loc[("logistic_l2", "smote"), "smote_k_neighbors"] == 5
    assert result.registry.training_positives.eq(12).all()


def test_four_positives_lower_smote_k_and_say_so(tmp_path) -> None:
    result = T.train(_few_positives_frame(4), demo_spec(tmp_path), save=False)
    row = result.comparison.set_index(["algorithm", "imbalance_treatment"]).loc[
        ("xgboost", "smote")
    ]
    assert result.registry.cv_folds.iloc[0] == 4  # K lowered to the positive count
    assert row.status == "ok"
    assert row.smote_k_neighbors == 2  # training folds hold 3 positives
    assert "k_neighbors lowered from 5 to 2" in row.status_reason


def test_two_positives_skip_smote_with_a_reason(tmp_path) -> None:
    result = T.train(_few_positives_frame(2), demo_spec(tmp_path), save=False)
    smote = result.comparison[result.comparison.imbalance_treatment == "smote"]
    assert (smote.status == "skipped").all()
    assert smote.status_reason.str.contains("SMOTE needs at least 2").all()
    assert smote.cv_auc_mean.isna().all() and not smote.is_chosen_for_family.any()
    assert len(result.registry) == 2


def test_one_positive_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(T.TrainingDataError, match="at least 2 of each class"):
        T.train(_few_positives_frame(1), demo_spec(tmp_path), save=False)


def test_missing_numerics_are_imputed_with_the_training_median(demo_run, demo_frame) -> None:
    _, result = demo_run
    train = demo_frame[demo_frame.split == "train"]
    assert train.x3.isna().any()
    for bundle in result.bundles.values():
        index = bundle.encoder.numeric_features.index("x3")
        assert bundle.encoder.fill_values[index] == pytest.approx(train.x3.median())
        missing = demo_frame.x3.isna().to_numpy()
        design = bundle.design_matrix(demo_frame)
        expected = (train.x3.median() - bundle.encoder.means[index]) / bundle.encoder.scales[index]
        np.testing.assert_allclose(design[missing, index], expected)
    assert np.isfinite(result.scores.raw_logit).all()


def test_empty_test_split_reports_nan_test_metrics(tmp_path, demo_frame) -> None:
    frame = demo_frame.assign(split=demo_frame.split.replace({"test": "train"}))
    spec = demo_spec(
        tmp_path, families=("logistic",), primary_family="logistic", imbalance_treatments=("none",)
    )
    result = T.train(frame, spec, save=False)
    assert math.isnan(result.registry.test_auc.iloc[0])
    assert set(result.threshold_sweep.population) == {"train_oof"}
    # save=False: nothing written, so the artifact columns are null.
    assert result.registry.artifact_path.isna().all()
    assert result.registry.artifact_sha256.isna().all()
    assert not (tmp_path / "demo").exists()
