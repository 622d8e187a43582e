"""Off-policy evaluation: what would a targeting policy really achieve, estimated from logged
data in which the historical policy chose the arm?

    evaluate_recommendation(covariates, action, outcome, arms, recommended, ...)

cross-fits an outcome and a propensity model over every labelled row (or uses the declared
assignment probabilities of a randomised test), evaluates the historical, recommended (argmax),
in-support, soft and every fixed-arm policy by direct method, IPW, SNIPW and doubly robust (the
headline) with influence-function intervals, and says ``not_identifiable`` where overlap is too
thin. ``experiment_design`` sizes the randomised test that would settle it. The bootstrap
estimators of the first version (LoggedPolicy, compare_policies) stay for their callers.
"""

from leakproof.policy._bootstrap import (
    BOOTSTRAP_BLOCK_CELLS,
    LoggedPolicy,
    bootstrap_blocks,
    bootstrap_index,
    bootstrap_statistics,
    compare_policies,
    covariate_matrix,
    effective_sample_size,
    estimate_value,
    fit_propensities,
    predict_propensities,
)
from leakproof.policy._cross_fit import (
    DEFAULT_FOLDS,
    PROPENSITY_FLOOR,
    PROPENSITY_MAX_ROWS,
    covariate_design,
    cross_fit_outcome,
    cross_fit_propensity,
    fold_ids,
)
from leakproof.policy._design import customers_per_arm, experiment_design, minimum_detectable_lift
from leakproof.policy._estimate import (
    ESTIMATED,
    ESTIMATORS,
    HEADLINE,
    MODEL_ONLY,
    NOT_IDENTIFIABLE,
    Diagnostics,
    LoggedData,
    Thresholds,
    diagnostics,
    evaluate_policies,
    influence,
)
from leakproof.policy._run import ORDER, Truth, evaluate_recommendation
from leakproof.policy._targets import fixed_arm, in_support, one_hot, soft, standard_policies

__all__ = [
    "BOOTSTRAP_BLOCK_CELLS",
    "DEFAULT_FOLDS",
    "ESTIMATED",
    "ESTIMATORS",
    "HEADLINE",
    "MODEL_ONLY",
    "NOT_IDENTIFIABLE",
    "ORDER",
    "PROPENSITY_FLOOR",
    "PROPENSITY_MAX_ROWS",
    "Diagnostics",
    "LoggedData",
    "LoggedPolicy",
    "Thresholds",
    "Truth",
    "bootstrap_blocks",
    "bootstrap_index",
    "bootstrap_statistics",
    "compare_policies",
    "covariate_design",
    "covariate_matrix",
    "cross_fit_outcome",
    "cross_fit_propensity",
    "customers_per_arm",
    "diagnostics",
    "effective_sample_size",
    "estimate_value",
    "evaluate_policies",
    "evaluate_recommendation",
    "experiment_design",
    "fit_propensities",
    "fixed_arm",
    "fold_ids",
    "in_support",
    "influence",
    "minimum_detectable_lift",
    "one_hot",
    "predict_propensities",
    "soft",
    "standard_policies",
]
