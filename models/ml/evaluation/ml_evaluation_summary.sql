-- One row per use case, model and split (train, test): every evaluation metric of the scores,
-- computed in SQL from ml_scored_rows - AUC, PR-AUC (average precision), KS, Brier, log loss,
-- precision / recall / F1 at the model's threshold, lift in the top 10 % and 20 %, base rate,
-- and the calibration intercept and slope. Equal to scikit-learn / scipy (tests/python).
with

scored as (

    select * from {{ ref('ml_scored_rows') }}

),

labelled as (

    select * from scored
    where label is not null

),

by_score as (

    -- one row per distinct score: the unit of every threshold-based curve
    select
        use_case,
        model_id,
        split,
        score,
        count(*) filter (where label = 1) as positives,
        count(*) filter (where label = 0) as negatives
    from labelled
    group by use_case, model_id, split, score

),

cumulated as (

    select
        use_case,
        model_id,
        split,
        score,
        positives,
        negatives,
        sum(positives) over descending_scores as positives_at_or_above,
        sum(negatives) over descending_scores as negatives_at_or_above,
        sum(positives) over (partition by use_case, model_id, split) as total_positives,
        sum(negatives) over (partition by use_case, model_id, split) as total_negatives
    from by_score
    window descending_scores as (
        partition by use_case, model_id, split
        order by score desc
        rows between unbounded preceding and current row
    )

),

curves as (

    select
        use_case,
        model_id,
        split,
        -- AUC: each positive counts the negatives below it, and half of its ties
        sum(
            positives
            * (total_negatives - negatives_at_or_above + 0.5 * negatives)
        ) / nullif(max(total_positives) * max(total_negatives), 0) as auc,
        -- average precision: precision at each threshold, weighted by the recall it adds
        sum(
            positives * 1.0 / nullif(total_positives, 0)
            * positives_at_or_above / (positives_at_or_above + negatives_at_or_above)
        ) as pr_auc,
        -- KS: the largest gap between the two cumulative distributions
        max(abs(
            positives_at_or_above * 1.0 / nullif(total_positives, 0)
            - negatives_at_or_above * 1.0 / nullif(total_negatives, 0)
        )) as ks
    from cumulated
    group by use_case, model_id, split

),

ranked as (

    select
        *,
        row_number() over (
            partition by use_case, model_id, split order by score desc, entity_key asc
        ) as score_rank,
        count(*) over (partition by use_case, model_id, split) as rows_in_split
    from labelled

),

pointwise as (

    select
        use_case,
        model_id,
        split,
        count(*) as rows_evaluated,
        sum(label) as positives,
        avg(label) as base_rate,
        avg((score - label) * (score - label)) as brier,
        avg((raw_score - label) * (raw_score - label)) as brier_raw,
        -avg(
            label * ln(least(greatest(score, 2.220446049250313e-16), 1 - 2.220446049250313e-16))
            + (1 - label)
            * ln(1 - least(greatest(score, 2.220446049250313e-16), 1 - 2.220446049250313e-16))
        ) as log_loss,
        count(*) filter (where predicted_label = 1 and label = 1) as true_positives,
        count(*) filter (where predicted_label = 1 and label = 0) as false_positives,
        count(*) filter (where predicted_label = 0 and label = 1) as false_negatives,
        avg(label) filter (where score_rank <= ceil(0.1 * rows_in_split)) as top_10_rate,
        avg(label) filter (where score_rank <= ceil(0.2 * rows_in_split)) as top_20_rate
    from ranked
    group by use_case, model_id, split

),

{{ logistic_recalibration('calibration', 'labelled', ['use_case', 'model_id', 'split']) }},

final as (

    select
        pointwise.use_case,
        pointwise.model_id,
        pointwise.split,
        pointwise.rows_evaluated,
        pointwise.positives,
        pointwise.base_rate,
        curves.auc,
        curves.pr_auc,
        curves.ks,
        pointwise.brier,
        pointwise.brier_raw,
        pointwise.log_loss,
        pointwise.true_positives * 1.0
        / nullif(pointwise.true_positives + pointwise.false_positives, 0) as precision_at_threshold,
        pointwise.true_positives * 1.0
        / nullif(pointwise.true_positives + pointwise.false_negatives, 0) as recall_at_threshold,
        2.0 * pointwise.true_positives
        / nullif(
            2 * pointwise.true_positives + pointwise.false_positives + pointwise.false_negatives,
            0
        ) as f1_at_threshold,
        pointwise.top_10_rate,
        pointwise.top_10_rate / nullif(pointwise.base_rate, 0) as lift_top_10,
        pointwise.top_20_rate,
        pointwise.top_20_rate / nullif(pointwise.base_rate, 0) as lift_top_20,
        calibration.intercept as calibration_intercept,
        calibration.slope as calibration_slope
    from pointwise
    inner join curves
        on
            pointwise.use_case = curves.use_case
            and pointwise.model_id = curves.model_id
            and pointwise.split = curves.split
    left join calibration
        on
            pointwise.use_case = calibration.use_case
            and pointwise.model_id = calibration.model_id
            and pointwise.split = calibration.split

)

select * from final
