{#-
    Validation of one raw source, driven entirely by its contract in the sources yml:
    every column's `data_type` and its `meta` rules (`nullable`, `min`, `max`, `domain`), and the
    table's `meta.unique_key`. One row per distinct raw row (exact duplicates collapsed, with the
    count kept), carrying
      - the typed, snake_case columns (`try_cast` of the raw text),
      - `is_unknown_<column>` flags for category values outside the known list (kept, not dropped)
        and `has_unknown_category` (any of them),
      - the original raw text of every column (`raw_<column>`), so a quarantined row loses nothing,
      - `quarantine_reasons` (every problem found, '; '-separated, NULL for a usable row) and the
        first one split into `quarantine_reason_code` / `quarantine_column`.
    Reason codes: missing_value, unparseable_value, out_of_range, duplicate_key.
-#}
{% macro validated_source(source_name, table_name) -%}
    {#- at parse time the graph is empty: only the source() and ref() calls matter then -#}
    {%- set category_aliases = ref('category_aliases') -%}
    {%- set node = leakproof_source_node(source_name, table_name) if execute else none -%}
    {%- set columns = node.columns.values() | list if execute else [] -%}
    {%- set key_columns = node.config.meta.get('unique_key', []) if execute else [] -%}
    {%- if key_columns is string %}{% set key_columns = [key_columns] %}{% endif -%}
    {%- set issues = [] -%}

with

source as (

    select * from {{ source(source_name, table_name) }}

),

numbered as (

    -- the file's row order is kept (preserve_insertion_order), so this is the data row number
    select
        *,
        row_number() over () as source_row_number
    from source

),

deduplicated as (

    select
        {%- for column in columns %}
        {{ adapter.quote(column.name) }},
        {%- endfor %}
        min(source_row_number) as source_row_number,
        count(*) as duplicate_count
    from numbered
    group by all

),

typed as (

    select
        source_row_number,
        duplicate_count,
        {%- for column in columns %}
        {%- set raw = "nullif(trim(cast(" ~ adapter.quote(column.name) ~ " as varchar)), '')" %}
        {%- set snake = leakproof_snake_case(column.name) %}
        {{ raw }} as raw_{{ snake }},
        {%- if column.meta.get('domain') %}
        {{ leakproof_category_key(raw) }} as {{ snake }}__key,
        {%- elif column.data_type | lower != 'varchar' %}
        try_cast({{ raw }} as {{ column.data_type }}) as {{ snake }},
        {%- else %}
        {{ raw }} as {{ snake }},
        {%- endif %}
        {%- endfor %}
    from deduplicated

),

categorised as (

    select
        typed.*,
        {%- for column in columns if column.meta.get('domain') %}
        {%- set snake = leakproof_snake_case(column.name) %}
        coalesce({{ snake }}_values.canonical_value, typed.raw_{{ snake }}) as {{ snake }},
        typed.raw_{{ snake }} is not null and {{ snake }}_values.canonical_value is null
            as is_unknown_{{ snake }}{{ "," if not loop.last }}
        {%- endfor %}
    from typed
    {%- for column in columns if column.meta.get('domain') %}
    {%- set snake = leakproof_snake_case(column.name) %}
    left join {{ category_aliases }} as {{ snake }}_values
        on
            {{ snake }}_values.domain = '{{ column.meta.domain }}'
            and typed.{{ snake }}__key = {{ snake }}_values.alias_key
    {%- endfor %}

),

{#- one `case` per rule and column; each yields '<reason>:<RawColumn>' or NULL -#}
{%- for column in columns -%}
    {%- set snake = leakproof_snake_case(column.name) -%}
    {%- if not column.meta.get('nullable', false) -%}
        {%- do issues.append("case when raw_" ~ snake ~ " is null then 'missing_value:" ~ column.name ~ "' end") -%}
    {%- endif -%}
    {%- if not column.meta.get('domain') and column.data_type | lower != 'varchar' -%}
        {%- do issues.append("case when raw_" ~ snake ~ " is not null and " ~ snake ~ " is null then 'unparseable_value:" ~ column.name ~ "' end") -%}
    {%- endif -%}
    {%- if column.meta.get('min') is not none -%}
        {%- do issues.append("case when " ~ snake ~ " < " ~ column.meta.min ~ " then 'out_of_range:" ~ column.name ~ "' end") -%}
    {%- endif -%}
    {%- if column.meta.get('max') is not none -%}
        {%- do issues.append("case when " ~ snake ~ " > " ~ column.meta.max ~ " then 'out_of_range:" ~ column.name ~ "' end") -%}
    {%- endif -%}
{%- endfor -%}
{%- if key_columns %}
    {%- set key_list = [] -%}
    {%- for key in key_columns %}{% do key_list.append(leakproof_snake_case(key)) %}{% endfor %}
    {%- do issues.append("case when count(*) over (partition by " ~ key_list | join(', ') ~ ") > 1 then 'duplicate_key:" ~ key_columns | join('+') ~ "' end") -%}
{%- endif %}

checked as (

    select
        *,
        nullif(concat_ws(
            '; ',
            {%- for issue in issues %}
            {{ issue }}{{ "," if not loop.last }}
            {%- endfor %}
        ), '') as quarantine_reasons
    from categorised

),

final as (

    select
        source_row_number,
        duplicate_count,
        {%- for column in columns %}
        {%- set snake = leakproof_snake_case(column.name) %}
        {{ snake }},
        {%- if column.meta.get('domain') %}
        is_unknown_{{ snake }},
        {%- endif %}
        {%- endfor %}
        {%- for column in columns %}
        raw_{{ leakproof_snake_case(column.name) }},
        {%- endfor %}
        {%- set unknown_flags = [] %}
        {%- for column in columns if column.meta.get('domain') %}
        {%- do unknown_flags.append('is_unknown_' ~ leakproof_snake_case(column.name)) %}
        {%- endfor %}
        {{ unknown_flags | join(' or ') if unknown_flags else 'false' }} as has_unknown_category,
        quarantine_reasons,
        split_part(split_part(quarantine_reasons, '; ', 1), ':', 1) as quarantine_reason_code,
        split_part(split_part(quarantine_reasons, '; ', 1), ':', 2) as quarantine_column
    from checked

)

select * from final
{%- endmacro %}


{#- The graph node of a source table, or a clear error if it is not declared. -#}
{% macro leakproof_source_node(source_name, table_name) -%}
    {%- set matches = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | list -%}
    {%- if matches | length != 1 -%}
        {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ " is not declared in a sources yml") }}
    {%- endif -%}
    {{ return(matches[0]) }}
{%- endmacro %}


{#- CamelCase / spaced raw names to snake_case: CustomerID -> customer_id, AdSpend -> ad_spend. -#}
{% macro leakproof_snake_case(name) -%}
    {%- set spaced = modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', name) -%}
    {%- set spaced = modules.re.sub('([A-Z]+)([A-Z][a-z])', '\\1_\\2', spaced) -%}
    {{ return(modules.re.sub('[^a-z0-9]+', '_', spaced | lower) | trim('_')) }}
{%- endmacro %}


{#- The lookup key of a category value: lower case, letters and digits only, so that
    "  social-media ", "Social Media" and "SOCIALMEDIA" all become 'socialmedia'. -#}
{% macro leakproof_category_key(expression) -%}
    {{ return(adapter.dispatch('category_key', 'leakproof')(expression)) }}
{%- endmacro %}

{% macro default__category_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[^a-z0-9]+', '')
{%- endmacro %}

{% macro duckdb__category_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[^a-z0-9]+', '', 'g')
{%- endmacro %}
