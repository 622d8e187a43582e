-- One row per use case, model and split (train, test): every evaluation metric of the scores,
-- computed in SQL from ml_scores - AUC, PR-AUC (average precision), KS, Brier, log loss,
-- precision / recall / F1 at the model's threshold, lift in the top 10 % and 20 %, base rate,
-- and the calibration intercept and slope. Equal to scikit-learn / scipy (tests/python).
with

scored as (

    select
        use_case,
        model_id,
        entity_key,
        split,
        actual_label as label,  -- noqa: RF04
        calibrated_probability as score,
        raw_probability as raw_score,
        predicted_label
    from {{ ref('ml_scores') }}

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

score_ranks as (

    select
        use_case,
        model_id,
        split,
        score,
        positives,
        negatives,
        positives_at_or_above - positives as positives_above,
        positives_at_or_above + negatives_at_or_above - positives - negatives as rows_above,
        positives_at_or_above + negatives_at_or_above as rows_at_or_above,
        -- the same cutoffs as row_number() <= ceil(share * rows): exact decimal arithmetic
        ceil(0.1 * cast(total_positives + total_negatives as bigint)) as top_10_rows,
        ceil(0.2 * cast(total_positives + total_negatives as bigint)) as top_20_rows
    from cumulated

),

top_boundaries as (

    -- the score holding the last row of the top 10 % / 20 % (ranked by score desc, entity_key
    -- asc): every row above it is in, its own rows only up to the cutoff
    select
        use_case,
        model_id,
        split,
        10 as top_share,
        score,
        top_10_rows as cutoff_rows,
        positives_above,
        top_10_rows - rows_above as rows_taken
    from score_ranks
    where rows_above < top_10_rows and rows_at_or_above >= top_10_rows
    union all
    select
        use_case,
        model_id,
        split,
        20 as top_share,
        score,
        top_20_rows as cutoff_rows,
        positives_above,
        top_20_rows - rows_above as rows_taken
    from score_ranks
    where rows_above < top_20_rows and rows_at_or_above >= top_20_rows

),

boundary_rows_ranked as (

    -- only the rows tied on a boundary score are ranked one by one, by entity_key
    select
        top_boundaries.use_case,
        top_boundaries.model_id,
        top_boundaries.split,
        top_boundaries.top_share,
        top_boundaries.cutoff_rows,
        top_boundaries.positives_above,
        top_boundaries.rows_taken,
        labelled.label,
        row_number() over (
            partition by
                top_boundaries.use_case,
                top_boundaries.model_id,
                top_boundaries.split,
                top_boundaries.top_share
            order by labelled.entity_key asc
        ) as tie_rank
    from top_boundaries
    inner join labelled
        on
            top_boundaries.use_case = labelled.use_case
            and top_boundaries.model_id = labelled.model_id
            and top_boundaries.split = labelled.split
            and top_boundaries.score = labelled.score

),

top_positives as (

    select
        use_case,
        model_id,
        split,
        top_share,
        max(cutoff_rows) as cutoff_rows,
        max(positives_above)
        + count(*) filter (where tie_rank <= rows_taken and label = 1) as positives_in_top
    from boundary_rows_ranked
    group by use_case, model_id, split, top_share

),

top_rates as (

    select
        use_case,
        model_id,
        split,
        max(cast(positives_in_top as double) / cast(cutoff_rows as double)) filter (
            where top_share = 10
        ) as top_10_rate,
        max(cast(positives_in_top as double) / cast(cutoff_rows as double)) filter (
            where top_share = 20
        ) as top_20_rate
    from top_positives
    group by use_case, model_id, split

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
        count(*) filter (where predicted_label = 0 and label = 1) as false_negatives
    from labelled
    group by use_case, model_id, split

),

calibration_input as (

    -- one row per distinct score and label, weighted by its rows: the fit reads these, not rows
    select
        use_case,
        model_id,
        split,
        score,
        1 as label,  -- noqa: RF04
        positives as row_weight
    from by_score
    where positives > 0
    union all
    select
        use_case,
        model_id,
        split,
        score,
        0 as label,  -- noqa: RF04
        negatives as row_weight
    from by_score
    where negatives > 0

),

{{ logistic_recalibration(
    'calibration', 'calibration_input', ['use_case', 'model_id', 'split'], weight='row_weight'
) }},

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
        top_rates.top_10_rate,
        top_rates.top_10_rate / nullif(pointwise.base_rate, 0) as lift_top_10,
        top_rates.top_20_rate,
        top_rates.top_20_rate / nullif(pointwise.base_rate, 0) as lift_top_20,
        calibration.in_the_large as calibration_intercept,
        calibration.slope as calibration_slope,
        calibration.intercept as recalibration_intercept
    from pointwise
    inner join curves
        on
            pointwise.use_case = curves.use_case
            and pointwise.model_id = curves.model_id
            and pointwise.split = curves.split
    inner join top_rates
        on
            pointwise.use_case = top_rates.use_case
            and pointwise.model_id = top_rates.model_id
            and pointwise.split = top_rates.split
    left join calibration
        on
            pointwise.use_case = calibration.use_case
            and pointwise.model_id = calibration.model_id
            and pointwise.split = calibration.split

)

select * from final
