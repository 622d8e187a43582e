"""The what-if engine of a use case that declares treatments: every row scored under every arm
(a combination of the treatments' values), the model's recommended arm, and the honest check of
what following the recommendations would really achieve.

    space = arm_space(features, treatments, per_arm, follows)
    recommendations = recommend(features, space, bundle=model, segment_columns=[...])
    evaluate_policy(features, recommendations, target=..., treatments=..., ...)
"""

from leakproof.whatif._arms import (
    ARM_SEPARATOR,
    ArmSpace,
    PerArmFeature,
    arm_dependent_features,
    arm_label,
    arm_space,
    counterfactual_features,
    sql_columns,
)
from leakproof.whatif._evaluate import RECOMMENDATION_COLUMNS, evaluate_policy, known_propensities
from leakproof.whatif._recommend import ArmDesign, recommend, score_arms, segment_support
from leakproof.whatif._truth import TruthSource, arm_codes, truth_source, truth_values

__all__ = [
    "ARM_SEPARATOR",
    "RECOMMENDATION_COLUMNS",
    "ArmDesign",
    "ArmSpace",
    "PerArmFeature",
    "TruthSource",
    "arm_codes",
    "arm_dependent_features",
    "arm_label",
    "arm_space",
    "counterfactual_features",
    "evaluate_policy",
    "known_propensities",
    "recommend",
    "score_arms",
    "segment_support",
    "sql_columns",
    "truth_source",
    "truth_values",
]
