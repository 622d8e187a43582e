-- One row per use case, model, split and calibration bin: the reliability diagram. Bins are
-- quantiles of the calibrated score (var calibration_bins, default 10 - equal-width bins would
-- put almost every customer of a 1.3 % base rate in the first one); each bin's mean predicted
-- probability against its observed rate, with a Wilson interval.
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

binned as (

    select
        use_case,
        model_id,
        split,
        label,
        score,
        ntile({{ var('calibration_bins') }}) over (
            partition by use_case, model_id, split order by score, entity_key
        ) as calibration_bin
    from scored
    where label is not null

),

by_bin as (

    select
        use_case,
        model_id,
        split,
        calibration_bin,
        count(*) as rows_in_bin,
        sum(label) as responders,
        avg(score) as mean_predicted,
        min(score) as min_predicted,
        max(score) as max_predicted
    from binned
    group by use_case, model_id, split, calibration_bin

),

final as (

    select
        use_case,
        model_id,
        split,
        calibration_bin,
        rows_in_bin,
        responders,
        mean_predicted,
        min_predicted,
        max_predicted,
        responders * 1.0 / rows_in_bin as observed_rate,
        {{ wilson_interval('responders', 'rows_in_bin', 'lower') }} as observed_rate_ci_lower,
        {{ wilson_interval('responders', 'rows_in_bin', 'upper') }} as observed_rate_ci_upper,
        responders * 1.0 / rows_in_bin - mean_predicted as calibration_error
    from by_bin

)

select * from final
