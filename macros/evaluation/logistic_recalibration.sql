{#-
    Calibration intercept and slope of probabilities, fitted by Newton-Raphson in plain SQL (one
    CTE per iteration, starting from the identity 0 + 1 * logit): the slope of the logistic
    regression label ~ intercept + slope * logit(score) (with its `intercept`, the recalibration
    line), and the calibration intercept (`in_the_large`): label ~ intercept + offset(logit(score)),
    the slope fixed at 1 (Van Calster et al. 2016, calibration-in-the-large; the joint fit's
    intercept is the line's value at logit 0, far from scores of a rare outcome, and moves with
    any slope error). A perfectly calibrated score has both intercepts 0 and slope 1; slope < 1
    means over-confident scores. Scores are clipped to [1e-12, 1 - 1e-12] before the logit. `weight`, when given, is a column counting the rows
    each row of `relation` stands for (e.g. one row per distinct label and score), so the fit
    reads a pre-aggregated relation (issue 9) and equals the fit on the rows. Yields CTEs
    `<name>_step_<k>`; the last one, named
    `<name>`, has one row per `group_by` with intercept, slope and in_the_large.
-#}
{% macro logistic_recalibration(name, relation, group_by, label='label', score='score', weight=none, iterations=12) -%}
{{ name }}_points as (

    select
        {{ group_by | join(', ') }},
        cast({{ label }} as double) as y,
        {{ 'cast(' ~ weight ~ ' as double)' if weight else '1.0' }} as w,
        ln(least(greatest({{ score }}, 1e-12), 1 - 1e-12))
        - ln(1 - least(greatest({{ score }}, 1e-12), 1 - 1e-12)) as x
    from {{ relation }}
    where {{ label }} is not null

),

{{ name }}_step_0 as (

    select distinct
        {{ group_by | join(', ') }},
        0.0 as intercept,
        1.0 as slope,
        0.0 as in_the_large
    from {{ name }}_points

),
{% for step in range(1, iterations + 1) %}
{{ name }}_sums_{{ step }} as (

    select
        {%- for column in group_by %}
        points.{{ column }},
        {%- endfor %}
        previous.intercept,
        previous.slope,
        previous.in_the_large,
        sum(
            points.w * (points.y - 1 / (1 + exp(-(previous.in_the_large + points.x))))
        ) as g_large,
        sum(
            points.w
            * (
                1 / (1 + exp(-(previous.in_the_large + points.x)))
                * (1 - 1 / (1 + exp(-(previous.in_the_large + points.x))))
            )
        ) as h_large,
        sum(
            points.w * (points.y - 1 / (1 + exp(-(previous.intercept + previous.slope * points.x))))
        ) as g0,
        sum(
            points.w
            * (points.y - 1 / (1 + exp(-(previous.intercept + previous.slope * points.x))))
            * points.x
        ) as g1,
        sum(
            points.w
            * (
                1 / (1 + exp(-(previous.intercept + previous.slope * points.x)))
                * (1 - 1 / (1 + exp(-(previous.intercept + previous.slope * points.x))))
            )
        ) as h00,
        sum(
            points.w
            * (
                1 / (1 + exp(-(previous.intercept + previous.slope * points.x)))
                * (1 - 1 / (1 + exp(-(previous.intercept + previous.slope * points.x))))
                * points.x
            )
        ) as h01,
        sum(
            points.w
            * (
                1 / (1 + exp(-(previous.intercept + previous.slope * points.x)))
                * (1 - 1 / (1 + exp(-(previous.intercept + previous.slope * points.x))))
                * points.x * points.x
            )
        ) as h11
    from {{ name }}_points as points
    inner join {{ name }}_step_{{ step - 1 }} as previous
        on
            {%- for column in group_by %}
            {{ "and " if not loop.first }}points.{{ column }} = previous.{{ column }}
            {%- endfor %}
    group by
        {%- for column in group_by %}
        points.{{ column }},
        {%- endfor %}
        previous.intercept,
        previous.slope,
        previous.in_the_large

),

{{ name }}{{ '_step_' ~ step if step < iterations else '' }} as (

    -- Newton step: [intercept, slope] += H^-1 g, with the 2 x 2 inverse written out
    select
        {{ group_by | join(', ') }},
        intercept + (h11 * g0 - h01 * g1) / nullif(h00 * h11 - h01 * h01, 0) as intercept,
        slope + (h00 * g1 - h01 * g0) / nullif(h00 * h11 - h01 * h01, 0) as slope,
        in_the_large + g_large / nullif(h_large, 0) as in_the_large
    from {{ name }}_sums_{{ step }}

){{ "," if step < iterations }}
{% endfor %}
{%- endmacro %}
