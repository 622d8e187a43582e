{#-
    One bound ('lower' or 'upper') of the Wilson score interval for a binomial proportion
    successes / trials, at z = var('interval_z') (1.959963984540054: two-sided 95 %):

        (s + z^2/2 -/+ z * sqrt(s * (n - s) / n + z^2/4)) / (n + z^2)

    (the usual centre (p + z^2/2n) / (1 + z^2/n) and half-width, multiplied through by n so that
    round inputs give exact results). NULL when trials is 0 or NULL; clamped to [0, 1].
    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage for rare events, which
    is what a 1.3 % conversion rate needs.
-#}
{% macro wilson_interval(successes, trials, bound, z=none) -%}
    {%- set z = z if z is not none else var('interval_z') -%}
    {%- set s = 'cast(' ~ successes ~ ' as double)' -%}
    {%- set n = 'cast(' ~ trials ~ ' as double)' -%}
    {%- if bound not in ['lower', 'upper'] -%}
        {{ exceptions.raise_compiler_error("wilson_interval: bound must be 'lower' or 'upper', got " ~ bound) }}
    {%- endif -%}
    case
        when {{ n }} > 0
            then {{ 'greatest(0.0, ' if bound == 'lower' else 'least(1.0, ' }}
                (
                    {{ s }} + {{ z }} * {{ z }} / 2.0
                    {{ '-' if bound == 'lower' else '+' }} {{ z }}
                    * sqrt({{ s }} * ({{ n }} - {{ s }}) / {{ n }} + {{ z }} * {{ z }} / 4.0)
                ) / ({{ n }} + {{ z }} * {{ z }})
            )
    end
{%- endmacro %}


{#- Two-sided p-value of the pooled two-proportion z-test of s1/n1 against s2/n2 (columns);
    NULL when either group is empty or the pooled rate is 0 or 1. -#}
{% macro two_proportion_z(s1, n1, s2, n2) -%}
    case
        when {{ n1 }} > 0 and {{ n2 }} > 0
            and {{ s1 }} + {{ s2 }} > 0 and {{ s1 }} + {{ s2 }} < {{ n1 }} + {{ n2 }}
            then (cast({{ s1 }} as double) / {{ n1 }} - cast({{ s2 }} as double) / {{ n2 }})
            / sqrt(
                cast({{ s1 }} + {{ s2 }} as double) / ({{ n1 }} + {{ n2 }})
                * (1.0 - cast({{ s1 }} + {{ s2 }} as double) / ({{ n1 }} + {{ n2 }}))
                * (1.0 / {{ n1 }} + 1.0 / {{ n2 }})
            )
    end
{%- endmacro %}
