{#-
    Tail probabilities for the statistical tests of the marts, in plain SQL arithmetic (DuckDB has
    no distribution functions). Accuracy against scipy (checked in tests/python/test_marts.py):
      - erfc / normal_sf: W. J. Cody's rational Chebyshev approximations (CALERF, 1969/1993),
        relative error < 5e-13 for tails down to 1e-300 (measured 2.4e-13, z in [-9, 37]);
      - chi_square_p_values: the closed forms of the chi-square survival function for integer
        degrees of freedom (a finite Poisson series; odd df add the normal tail), |error| < 2e-14
        (measured 1.2e-14 absolute, 8.5e-14 relative, df 1..60, x 0..300);
      - student_t_p_values: the two-sided tail I_{nu/(nu+t^2)}(nu/2, 1/2) as the power series of
        the regularized incomplete beta function (summed over generated term rows, the smaller
        side of the symmetry so it converges in at most a few thousand terms), any real df,
        |error| < 1e-11 (measured 1.9e-12 for df in [1, 1e7], |t| <= 60).
    Arguments that are repeated inside an expression should be column names, not expressions.
-#}

{#- The complementary error function erfc(x) of a double column, any sign. -#}
{% macro erfc(x) -%}
    {%- set a = [3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1] -%}
    {%- set b = [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03] -%}
    {%- set c = [5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8] -%}
    {%- set d = [1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03] -%}
    {%- set p = [3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2] -%}
    {%- set q = [2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3] -%}
    {%- set y = 'abs(' ~ x ~ ')' -%}
    {#- |x| <= 0.46875: erfc = 1 - x * A(x^2) / B(x^2) -#}
    {%- set ysq = '(' ~ x ~ ' * ' ~ x ~ ')' -%}
    {%- set small_num = namespace(s=a[4] ~ ' * ' ~ ysq) -%}
    {%- set small_den = namespace(s=ysq) -%}
    {%- for i in range(3) -%}
        {%- set small_num.s = '(' ~ small_num.s ~ ' + ' ~ a[i] ~ ') * ' ~ ysq -%}
        {%- set small_den.s = '(' ~ small_den.s ~ ' + ' ~ b[i] ~ ') * ' ~ ysq -%}
    {%- endfor -%}
    {#- 0.46875 < |x| <= 4 -#}
    {%- set mid_num = namespace(s=c[8] ~ ' * ' ~ y) -%}
    {%- set mid_den = namespace(s=y) -%}
    {%- for i in range(7) -%}
        {%- set mid_num.s = '(' ~ mid_num.s ~ ' + ' ~ c[i] ~ ') * ' ~ y -%}
        {%- set mid_den.s = '(' ~ mid_den.s ~ ' + ' ~ d[i] ~ ') * ' ~ y -%}
    {%- endfor -%}
    {#- |x| > 4, in 1 / x^2 -#}
    {%- set inv = '(1.0 / (' ~ y ~ ' * ' ~ y ~ '))' -%}
    {%- set big_num = namespace(s=p[5] ~ ' * ' ~ inv) -%}
    {%- set big_den = namespace(s=inv) -%}
    {%- for i in range(4) -%}
        {%- set big_num.s = '(' ~ big_num.s ~ ' + ' ~ p[i] ~ ') * ' ~ inv -%}
        {%- set big_den.s = '(' ~ big_den.s ~ ' + ' ~ q[i] ~ ') * ' ~ inv -%}
    {%- endfor -%}
    {%- set rounded = '(' ~ leakproof_truncate(y ~ ' * 16.0') ~ ' / 16.0)' -%}
    {%- set scale = 'exp(-' ~ rounded ~ ' * ' ~ rounded ~ ') * exp(-((' ~ y ~ ' - ' ~ rounded ~ ') * (' ~ y ~ ' + ' ~ rounded ~ ')))' -%}
    {%- set tail -%}
        {{ scale }} * case
            when {{ y }} <= 4.0
                then ({{ mid_num.s }} + {{ c[7] }}) / ({{ mid_den.s }} + {{ d[7] }})
            else (0.56418958354775628695 - {{ inv }} * ({{ big_num.s }} + {{ p[4] }}) / ({{ big_den.s }} + {{ q[4] }})) / {{ y }}
        end
    {%- endset -%}
    case
        when {{ x }} is null then null
        when {{ y }} <= 0.46875
            then 1.0 - {{ x }} * ({{ small_num.s }} + {{ a[3] }}) / ({{ small_den.s }} + {{ b[3] }})
        when {{ x }} < 0 then 2.0 - {{ tail }}
        else {{ tail }}
    end
{%- endmacro %}


{#- Upper tail P(Z > z) of the standard normal distribution, for a double column z. -#}
{% macro normal_sf(z) -%}
    (0.5 * {{ erfc('(' ~ z ~ ' / sqrt(2.0))') }})
{%- endmacro %}


{#- ln(1 + u), accurate for small u (Kahan's trick; DuckDB has no log1p), for a double column u. -#}
{% macro log1p(u) -%}
    case
        when 1.0 + {{ u }} = 1.0 then {{ u }}
        else ln(1.0 + {{ u }}) * {{ u }} / ((1.0 + {{ u }}) - 1.0)
    end
{%- endmacro %}


{#- ln(Gamma(z + 1/2)) - ln(Gamma(z)) for z > 0, without the cancellation of two large lgamma
    values: lgamma below 20, the asymptotic series (Bernoulli polynomials, to z^-9) above. -#}
{% macro log_gamma_half_ratio(z) -%}
    case
        when {{ z }} < 20.0
            then {{ leakproof_log_gamma(z ~ ' + 0.5') }} - {{ leakproof_log_gamma(z) }}
        else 0.5 * ln({{ z }}) - 1.0 / (8.0 * {{ z }}) + 1.0 / (192.0 * power({{ z }}, 3))
            - 1.0 / (640.0 * power({{ z }}, 5)) + 17.0 / (14336.0 * power({{ z }}, 7))
            - 31.0 / (18432.0 * power({{ z }}, 9))
    end
{%- endmacro %}


{#-
    CTEs that attach the two-sided Student-t p-value P(|T| > |t|) to each row of `tests`.
    `keys`: the columns identifying a row; `t_column`, `df_column`: the statistic and its (real)
    degrees of freedom. Ends in a CTE named `name` with the keys and `p_value` (NULL when t or df is
    NULL or df <= 0). p = I_x(nu/2, 1/2) with x = nu / (nu + t^2), the regularized incomplete beta,
    summed as its power series sum_n z^n (a+b)_n / (a+1)_n on whichever side converges fast:
    directly when x <= 0.9, else as 1 - I_{1-x}(1/2, nu/2). Each row is expanded into its terms,
    whose logs are accumulated with a running sum (no lgamma differences of large arguments).
-#}
{% macro student_t_p_values(name, tests, keys, t_column, df_column) -%}
{{ name }}_inputs as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        cast({{ t_column }} as double) * cast({{ t_column }} as double) as t_squared,
        cast({{ df_column }} as double) as nu
    from {{ tests }}
    where {{ t_column }} is not null and {{ df_column }} > 0

),

{{ name }}_logs as (

    select
        *,
        -({{ log1p('t_squared / nu') }}) as log_x,
        ln(t_squared / (nu + t_squared)) as log_y,
        t_squared / (nu + t_squared) as y,
        nu / 2.0 as half_nu
    from {{ name }}_inputs
    where t_squared > 0

),

{{ name }}_sides as (

    select
        *,
        log_x <= ln(0.9) as is_direct,
        {{ log_gamma_half_ratio('half_nu') }} as log_gamma_ratio,
        greatest(
            0.0, (y * (0.5 + half_nu) - 1.5) / (1.0 - y)
        ) as peak_term
    from {{ name }}_logs

),

{{ name }}_series_setup as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        is_direct,
        case when is_direct then half_nu else 0.5 end as a,
        case when is_direct then 0.5 else half_nu end as b,
        case when is_direct then log_x else log_y end as log_z,
        case when is_direct then log_x else log_y end
        * case when is_direct then half_nu else 0.5 end
        + case when is_direct then log_y else log_x end
        * case when is_direct then 0.5 else half_nu end
        + log_gamma_ratio - 0.5 * ln(pi())
        - ln(case when is_direct then half_nu else 0.5 end) as log_prefactor,
        case
            when is_direct then ceil(-37.0 / log_x) + 1
            else ceil(peak_term + 12.0 * sqrt(peak_term / (1.0 - y) + 1.0) + 40.0)
        end as term_count
    from {{ name }}_sides

),

{{ name }}_terms as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        is_direct,
        a,
        b,
        log_z,
        log_prefactor,
        {{ leakproof_integer_series('term_count') }} as term_index
    from {{ name }}_series_setup

),

{{ name }}_term_ratios as (

    select
        *,
        log_z + ln((a + b + term_index) / (a + 1.0 + term_index)) as log_ratio
    from {{ name }}_terms

),

{{ name }}_term_values as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        is_direct,
        exp(
            log_prefactor
            + coalesce(
                sum(log_ratio) over (
                    partition by {{ keys | join(', ') }}
                    order by term_index
                    rows between unbounded preceding and 1 preceding
                ),
                0.0
            )
        ) as term_value
    from {{ name }}_term_ratios

),

{{ name }}_series as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        min(case when is_direct then 1 else 0 end) = 1 as is_direct,
        sum(term_value) as series_sum
    from {{ name }}_term_values
    group by {{ keys | join(', ') }}

),

{{ name }} as (

    select
        {%- for key in keys %}
        {{ name }}_inputs.{{ key }},
        {%- endfor %}
        case
            when {{ name }}_inputs.t_squared = 0 then 1.0
            when {{ name }}_series.is_direct then least(1.0, {{ name }}_series.series_sum)
            else greatest(0.0, 1.0 - {{ name }}_series.series_sum)
        end as p_value
    from {{ name }}_inputs
    left join {{ name }}_series
        on
            {%- for key in keys %}
            {{ "and " if not loop.first }}{{ name }}_inputs.{{ key }} = {{ name }}_series.{{ key }}
            {%- endfor %}

)
{%- endmacro %}


{#-
    CTEs that attach the chi-square survival function P(X > x) for integer df to each row of
    `tests`; ends in a CTE named `name` with the keys and `p_value` (NULL when x is NULL or df < 1).
      even df: exp(-x/2) * sum_{k=0}^{df/2-1} (x/2)^k / k!
      odd df:  2 * P(Z > sqrt(x)) + sum_{k=1}^{(df-1)/2} 2 phi(sqrt(x)) x^(k-1/2) / (2k-1)!!
-#}
{% macro chi_square_p_values(name, tests, keys, statistic_column, df_column) -%}
{{ name }}_inputs as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        cast({{ statistic_column }} as double) as chi_square,
        cast({{ df_column }} as bigint) as df,
        sqrt(greatest(cast({{ statistic_column }} as double), 0.0)) as root_chi_square
    from {{ tests }}
    where {{ statistic_column }} is not null and {{ df_column }} >= 1

),

{{ name }}_terms as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        chi_square,
        df % 2 = 0 as is_even,
        {{ leakproof_integer_series('cast((df - df % 2) / 2 as bigint)', 'df % 2') }} as term_index
    from {{ name }}_inputs
    where chi_square > 0

),

{{ name }}_term_values as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        case
            when is_even
                then exp(
                    -chi_square / 2.0 + term_index * ln(chi_square / 2.0)
                    - {{ leakproof_log_gamma('term_index + 1.0') }}
                )
            else exp(
                ln(2.0) - chi_square / 2.0 - 0.5 * ln(2.0 * pi())
                + (term_index - 0.5) * ln(chi_square)
                - (
                    {{ leakproof_log_gamma('2.0 * term_index + 1.0') }}
                    - term_index * ln(2.0)
                    - {{ leakproof_log_gamma('term_index + 1.0') }}
                )
            )
        end as term_value
    from {{ name }}_terms

),

{{ name }}_series as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        sum(term_value) as series_sum
    from {{ name }}_term_values
    group by {{ keys | join(', ') }}

),

{{ name }} as (

    select
        {%- for key in keys %}
        {{ name }}_inputs.{{ key }},
        {%- endfor %}
        case
            when {{ name }}_inputs.chi_square <= 0 then 1.0
            when {{ name }}_inputs.df % 2 = 0 then least(1.0, {{ name }}_series.series_sum)
            else least(
                1.0,
                2.0 * {{ normal_sf(name ~ '_inputs.root_chi_square') }}
                + coalesce({{ name }}_series.series_sum, 0.0)
            )
        end as p_value
    from {{ name }}_inputs
    left join {{ name }}_series
        on
            {%- for key in keys %}
            {{ "and " if not loop.first }}{{ name }}_inputs.{{ key }} = {{ name }}_series.{{ key }}
            {%- endfor %}

)
{%- endmacro %}
