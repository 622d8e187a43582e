"""Train, calibrate, threshold and score binary conversion / propensity classifiers.

Two calls serve the dbt Python models:

- ``train(frame, spec)`` cross-validates every model family x imbalance treatment on the training
  rows, calibrates, picks thresholds, fits the chosen candidates, saves them (sha256-registered)
  and returns every table (registry, comparison, threshold sweep, scores, importance,
  coefficients).
- ``score(frame, registry_row)`` loads the registered model after verifying its sha256 and scores a
  frame without retraining; ``predict_proba_frame`` is the fast path for millions of rows.

The input frame has one row per entity with its id column(s), the features, the target and a
``split`` column ('train' | 'test' | 'score'); only 'train' rows are ever used to fit, select,
calibrate or choose a threshold. 'test' rows are scored and reported, never looked at for choices.

How a model is built, in order (all seeded; no wall-clock or thread-order dependence):

1. Folds: stratified K-fold (K = ``n_folds``, lowered to the minority-class count when that is
   smaller); stratified *group* K-fold when ``cv_group_column`` is set (e.g. one account over
   several B2B waves stays in one fold); or the folds given by ``cv_fold_column`` (e.g. the
   feature mart's ``cv_fold``, so the CV matches the folds its out-of-fold encodings used).
2. Candidates: each family ('xgboost', 'logistic') x each imbalance treatment ('none',
   'class_weight', 'smote') is an imblearn Pipeline ``prep -> [SMOTE] -> model``, so imputation,
   scaling, encoding and SMOTE are fitted on training-fold rows only, and validation rows are never
   resampled (the fitted ``prep`` of a fold, and of the final fit, is shared by the three
   treatments; so is XGBoost's quantile sketch of the real rows, see ``fit_treatments``).
   XGBoost is tuned on the rows each model is fitted on (``_tuning``: each fold's training rows,
   then all training rows), so the CV AUC includes the tuning. Per family, and then across
   families for the model of record (unless ``primary_family`` pins one), the candidate with the
   highest mean fold AUC is chosen; AUCs within ``selection_tolerance`` of it are ties, won by
   the simpler model (logistic before XGBoost, then the earlier treatment).
3. Calibration: Platt ('sigmoid') vs isotonic, compared by the Brier score of *cross-fitted*
   calibration of the out-of-fold (OOF) scores (calibrator fitted on the other folds' OOF scores);
   ties go to the earlier method. The chosen calibrator is then fitted on all OOF scores, never on
   in-sample predictions. A tuned chosen candidate is calibrated on OOF scores of fold models
   with the refit's own parameters (``calibrate_like_the_refit``), so the calibrator is fitted on
   scores distributed like the ones it is applied to. Raw and calibrated probabilities are kept.
4. Thresholds: the sweep grid (default: the marketing document's 60 thresholds 0.01-0.60) over the
   cross-fitted calibrated OOF probabilities of the training rows; F1-optimal and cost-optimal
   (max ``conversion_value * tp - contact_cost * (tp + fp)``), lowest threshold on ties. The
   model's ``threshold`` is the one named by ``threshold_objective``. Test rows only report.
5. Final fit: the chosen pipeline refitted on all training rows.
"""

from __future__ import annotations

from leakproof._text import string_array
from leakproof.model_spec import (
    ALGORITHMS,
    BUILD_KEYS,
    CALIBRATION_METHODS,
    DEFAULT_THRESHOLD_GRID,
    DEFAULT_XGBOOST_PARAMS,
    FAMILIES,
    MISSING_CATEGORY,
    SCORE_CHUNK_ROWS,
    SELECTION_RULES,
    SIMPLICITY,
    SPLITS,
    THRESHOLD_OBJECTIVES,
    TREATMENTS,
    ModelSpec,
    ModelSpecError,
    TrainingDataError,
    declared_model_problems,
)
from leakproof.train._bundle import ModelBundle
from leakproof.train._calibration import Calibrator, fit_calibrator
from leakproof.train._candidates import (
    Candidate,
    candidate_from_margins,
    evaluate_candidates,
    select_candidate,
)
from leakproof.train._cv import make_folds
from leakproof.train._data import design_frame, training_data_sha256, training_sample
from leakproof.train._encoding import DesignEncoder, make_preprocessor
from leakproof.train._families import fit_treatments, model_margin
from leakproof.train._run import TrainResult, train
from leakproof.train._scoring import predict_proba_frame, score, score_frame, unseen_categories
from leakproof.train._threshold import choose_thresholds, threshold_sweep
from leakproof.train._tuning import search_configurations, tune_xgboost

__all__ = [
    "ALGORITHMS",
    "BUILD_KEYS",
    "CALIBRATION_METHODS",
    "DEFAULT_THRESHOLD_GRID",
    "DEFAULT_XGBOOST_PARAMS",
    "FAMILIES",
    "MISSING_CATEGORY",
    "SCORE_CHUNK_ROWS",
    "SELECTION_RULES",
    "SIMPLICITY",
    "SPLITS",
    "THRESHOLD_OBJECTIVES",
    "TREATMENTS",
    "Calibrator",
    "Candidate",
    "DesignEncoder",
    "ModelBundle",
    "ModelSpec",
    "ModelSpecError",
    "TrainResult",
    "TrainingDataError",
    "candidate_from_margins",
    "choose_thresholds",
    "declared_model_problems",
    "design_frame",
    "evaluate_candidates",
    "fit_calibrator",
    "fit_treatments",
    "make_folds",
    "make_preprocessor",
    "model_margin",
    "predict_proba_frame",
    "score",
    "score_frame",
    "search_configurations",
    "select_candidate",
    "string_array",
    "threshold_sweep",
    "train",
    "training_data_sha256",
    "training_sample",
    "tune_xgboost",
    "unseen_categories",
]
