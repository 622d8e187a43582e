{#-
    Segment bands, shared by the analytics marts and the feature tables. Each band list is a var
    (dbt_project.yml): a list of {label, up_to}, in increasing order, where `up_to` is the
    inclusive upper bound and the last band has none (open-ended). Right-closed, as pandas.cut:
    a value equal to a bound falls in the lower band, so income 80,000 is 'mid' and 'high' is
    strictly above $80K, as the marketing document defines high-income. NULL stays NULL.
-#}
{% macro band(expression, bands) -%}
    {%- if bands | length == 0 -%}
        {{ exceptions.raise_compiler_error("band: the band list is empty") }}
    {%- endif -%}
    case
        when {{ expression }} is null then null
        {%- for band in bands %}
        {%- if band.get('up_to') is none and not loop.last %}
            {{ exceptions.raise_compiler_error("band: only the last band may omit up_to, see " ~ band.label) }}
        {%- endif %}
        {%- if not loop.last %}
        when {{ expression }} <= {{ band.up_to }} then '{{ band.label }}'
        {%- else %}
        else '{{ band.label }}'
        {%- endif %}
        {%- endfor %}
    end
{%- endmacro %}


{#- The labels of a band list, in order (for complete grids). -#}
{% macro band_labels(bands) -%}
    {{ return(bands | map(attribute='label') | list) }}
{%- endmacro %}


{#- Age group of an age in years (var age_groups: 18-29 "young adults", 30-44, 45-59, 60+). -#}
{% macro age_group(expression) -%}
    {{ band(expression, var('age_groups')) }}
{%- endmacro %}


{#- Income tier of an annual income (var income_tiers: low / mid / high, high = above $80K). -#}
{% macro income_tier(expression) -%}
    {{ band(expression, var('income_tiers')) }}
{%- endmacro %}


{#- Loyalty tier of a loyalty-points balance (var loyalty_tiers). -#}
{% macro loyalty_tier(expression) -%}
    {{ band(expression, var('loyalty_tiers')) }}
{%- endmacro %}


{#- Company-size band of a B2B account's employee count (var company_size_bands; the B2B
    document's large account is >= 800 employees). -#}
{% macro company_size_band(expression) -%}
    {{ band(expression, var('company_size_bands')) }}
{%- endmacro %}


{#- True when a contract ends within var renewal_window_months (the B2B document's renewal
    window: contract_remaining_months <= 3). -#}
{% macro is_renewal_window(expression) -%}
    ({{ expression }} <= {{ var('renewal_window_months') }})
{%- endmacro %}


{#- The renewal window as a category label, for rate tables. -#}
{% macro renewal_window(expression) -%}
    case
        when {{ expression }} is null then null
        when {{ is_renewal_window(expression) }} then 'within {{ var("renewal_window_months") }} months'
        else 'more than {{ var("renewal_window_months") }} months'
    end
{%- endmacro %}


{#- A select of (segment_type, segment_value): every label of the named band vars, in order,
    as rows - the known segment values for complete grids. `segments` maps segment_type -> var. -#}
{% macro segment_values(segments) -%}
    {%- for segment_type, var_name in segments.items() %}
    {%- set outer_loop = loop %}
    {%- for label in band_labels(var(var_name)) %}
    select
        '{{ segment_type }}' as segment_type,
        '{{ label }}' as segment_value,
        {{ loop.index }} as segment_order
    {%- if not (outer_loop.last and loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
{%- endmacro %}
