-- One row per use case, model, split and score decile (1 = the 10 % highest scores): rows,
-- responders, response rate, lift over the split's base rate, and the cumulative gain (share of
-- all responders captured down to this decile) and cumulative lift.
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

deciled as (

    select
        use_case,
        model_id,
        split,
        label,
        ntile(10) over (
            partition by use_case, model_id, split order by score desc, entity_key asc
        ) as decile
    from scored
    where label is not null

),

by_decile as (

    select
        use_case,
        model_id,
        split,
        decile,
        count(*) as rows_in_decile,
        sum(label) as responders
    from deciled
    group by use_case, model_id, split, decile

),

cumulated as (

    select
        *,
        sum(rows_in_decile) over down_to_decile as cumulative_rows,
        sum(responders) over down_to_decile as cumulative_responders,
        sum(rows_in_decile) over whole_split as split_rows,
        sum(responders) over whole_split as split_responders
    from by_decile
    window
        down_to_decile as (
            partition by use_case, model_id, split
            order by decile
            rows between unbounded preceding and current row
        ),
        whole_split as (partition by use_case, model_id, split)

),

final as (

    select
        use_case,
        model_id,
        split,
        decile,
        rows_in_decile,
        responders,
        responders * 1.0 / rows_in_decile as response_rate,
        (responders * 1.0 / rows_in_decile) / nullif(split_responders * 1.0 / split_rows, 0)
            as lift,
        cumulative_responders * 1.0 / nullif(split_responders, 0) as cumulative_gain,
        (cumulative_responders * 1.0 / cumulative_rows)
        / nullif(split_responders * 1.0 / split_rows, 0) as cumulative_lift
    from cumulated

)

select * from final
