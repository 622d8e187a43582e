{#-
    base_<use case>__validated: one row per distinct raw row of the use case's files (exact
    duplicates collapsed, counted in duplicate_count), driven by the declaration's columns:
      - the typed, snake_case columns: exact types (leakproof_exact_value: a fraction is not an
        integer, NaN / inf / 1e400 are not numbers), categories canonicalised from the declared
        accepted_values and aliases (case, spacing and punctuation ignored), the target as its
        0 / 1 label (positive / negative labels as declared, compared as trimmed lower-case text);
      - is_unknown_<column> for a category value outside the declared ones (kept and flagged, or
        quarantined when the column says unknown: quarantine) and has_unknown_category;
      - raw_values: for a quarantined row, the original text of every column (a JSON object), so
        it loses nothing;
      - quarantine_reasons (every problem, '; '-separated, NULL for a usable row) and the first
        one split into quarantine_reason_code / quarantine_column. Codes: missing_value,
        unparseable_value, out_of_range, unknown_label, unknown_category, duplicate_key.
    The outcome columns (target / target_derived / post_outcome) are absent from a scoring file
    and never required there.
-#}
{% macro validated_rows(use_case_name, table_name) -%}
    {#- the two places the target legitimately decides which rows go on (leakage guard): a row
        whose target is missing or not a declared label is quarantined, and exact duplicate raw
        rows (target included) are collapsed -#}
    {{- leakproof_use_case_model(use_case_name, 'table', meta={
        'leakage_mechanisms': {'quarantine_reasons':
            'validation: a row with an invalid value (the target included) is quarantined, '
            ~ 'whole and with its reason, before any split; tested by fct_source_row_accounting'},
        'leakage_row_mechanism':
            'exact duplicate raw rows are collapsed (grouped by every raw column, the target '
            ~ 'included); counted in duplicate_count and in fct_source_row_accounting',
    }) }}
    {%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
    {%- set columns = use_case.columns if execute else [] -%}
    {%- set decimal = use_case.table.decimal if execute else '.' -%}
    {%- set outcome = ['target', 'post_outcome', 'target_derived'] -%}
    {%- set issues = [] -%}
{%- if target.type != 'spark' -%}
-- depends_on: {{ ref('stg_raw_files') }}
{%- endif %}
with

source as (

    select * from {{ source(use_case_name, table_name) }}

),

deduplicated as (

    select
        source_file,
        {%- for column in columns %}
        {{ adapter.quote(column.name) }},
        {%- endfor %}
        min(source_row_number) as source_row_number,
        count(*) as duplicate_count
    from source
    group by all

),

typed as (

    select
        source_file,
        source_row_number,
        duplicate_count,
        {%- for column in columns %}
        {%- set raw = "nullif(trim(cast(" ~ adapter.quote(column.name) ~ " as " ~ leakproof_varchar() ~ ")), '')" %}
        {{ raw }} as raw_{{ column.column }},
        {%- if column.role == 'target' %}
        {{ leakproof_label(raw, use_case.positive, use_case.negative) }} as {{ column.column }}{{ ',' if not loop.last }}
        {%- elif column.accepted_values %}
        {{ leakproof_category(raw, column.accepted_values, column.aliases) }} as {{ column.column }}__canonical{{ ',' if not loop.last }}
        {%- else %}
        {{ leakproof_exact_value(raw, column.data_type, decimal) }} as {{ column.column }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from deduplicated

),

categorised as (

    select
        *,
        {%- for column in columns if column.accepted_values and column.role != 'target' %}
        coalesce({{ column.column }}__canonical, raw_{{ column.column }}) as {{ column.column }},
        raw_{{ column.column }} is not null and {{ column.column }}__canonical is null
            as is_unknown_{{ column.column }},
        {%- endfor %}
        source_file = 'scoring' as is_scoring
    from typed

),

{#- one [condition, '<reason>:<RawColumn>'] per rule and column -#}
{%- for column in columns -%}
    {%- set snake = column.column -%}
    {%- set present = "source_file = 'labelled'" if column.role in outcome else 'true' -%}
    {%- if column.required -%}
        {%- do issues.append([present ~ " and raw_" ~ snake ~ " is null", 'missing_value:' ~ column.name]) -%}
    {%- endif -%}
    {%- if column.role == 'target' -%}
        {%- do issues.append(["raw_" ~ snake ~ " is not null and " ~ snake ~ " is null", 'unknown_label:' ~ column.name]) -%}
    {%- elif column.accepted_values -%}
        {%- if column.unknown == 'quarantine' -%}
            {%- do issues.append(["is_unknown_" ~ snake, 'unknown_category:' ~ column.name]) -%}
        {%- endif -%}
    {%- elif column.data_type != 'varchar' -%}
        {%- do issues.append(["raw_" ~ snake ~ " is not null and " ~ snake ~ " is null", 'unparseable_value:' ~ column.name]) -%}
    {%- endif -%}
    {%- if column.min is not none -%}
        {%- do issues.append([snake ~ " < " ~ column.min, 'out_of_range:' ~ column.name]) -%}
    {%- endif -%}
    {%- if column.max is not none -%}
        {%- do issues.append([snake ~ " > " ~ column.max, 'out_of_range:' ~ column.name]) -%}
    {%- endif -%}
{%- endfor -%}
{%- set grain = use_case.grain if execute else [] -%}
{%- if grain -%}
    {%- set key_names = [] -%}
    {%- for key in grain %}{% do key_names.append((columns | selectattr('column', 'equalto', key) | first).name) %}{% endfor -%}
    {%- do issues.append(["is_duplicate_key", 'duplicate_key:' ~ key_names | join('+')]) -%}
{%- endif %}

{%- if grain %}

{#- a key seen twice in a file: counted on the narrow key, then joined back (a window over the
    whole row would sort every column) #}
duplicate_keys as (

    select
        source_file as duplicate_source_file,
        {%- for key in grain %}
        {{ key }} as duplicate_{{ key }},
        {%- endfor %}
        true as is_duplicate_key
    from categorised
    group by source_file{% for key in grain %}, {{ key }}{% endfor %}
    having count(*) > 1

),
{%- endif %}

checked as (

    select
        categorised.*,
        {#- the reasons text is built only for a row with a problem (most rows have none) #}
        {%- if not issues %}
        cast(null as {{ leakproof_varchar() }}) as quarantine_reasons
        {%- else %}
        case when
            {%- for condition, reason in issues %}
            ({{ condition }}){{ " or" if not loop.last }}
            {%- endfor %}
        then concat_ws(
            '; ',
            {%- for condition, reason in issues %}
            case when {{ condition }} then '{{ reason | replace("'", "''") }}' end{{ "," if not loop.last }}
            {%- endfor %}
        ) end as quarantine_reasons
        {%- endif %}
    from categorised
    {%- if grain %}
    left join duplicate_keys
        on
            categorised.source_file = duplicate_keys.duplicate_source_file
            {%- for key in grain %}
            and categorised.{{ key }} is not distinct from duplicate_keys.duplicate_{{ key }}
            {%- endfor %}
    {%- endif %}

),

final as (

    select
        source_file,
        source_row_number,
        duplicate_count,
        is_scoring,
        {%- for column in columns %}
        {{ column.column }},
        {%- if column.accepted_values and column.role != 'target' %}
        is_unknown_{{ column.column }},
        {%- endif %}
        {%- endfor %}
        {%- set unknown_flags = [] %}
        {%- for column in columns if column.accepted_values and column.role != 'target' %}
        {%- do unknown_flags.append('is_unknown_' ~ column.column) %}
        {%- endfor %}
        {{ unknown_flags | join(' or ') if unknown_flags else 'false' }} as has_unknown_category,
        {%- set raw_columns = [] %}
        {%- for column in columns %}{% do raw_columns.append('raw_' ~ column.column) %}{% endfor %}
        {#- only a quarantined row needs its original values as one text (fct_quarantined_rows) #}
        case when quarantine_reasons is not null then
            {{ leakproof_json_object(columns | map(attribute='name') | list, raw_columns) }}
        end as raw_values,
        quarantine_reasons,
        split_part(split_part(quarantine_reasons, '; ', 1), ':', 1) as quarantine_reason_code,
        split_part(split_part(quarantine_reasons, '; ', 1), ':', 2) as quarantine_column
    from checked

)

select * from final
{%- endmacro %}


{#- The 0 / 1 label of a raw target value: 1 for a declared positive label, 0 for a declared
    negative one (trimmed, case-insensitive text), NULL otherwise (unknown label, or missing). -#}
{% macro leakproof_label(raw, positive, negative) -%}
    case
        when lower({{ raw }}) in ({{ leakproof_text_list(positive | map('lower') | list) }}) then 1
        when lower({{ raw }}) in ({{ leakproof_text_list(negative | map('lower') | list) }}) then 0
    end
{%- endmacro %}


{#- The canonical category of a raw value: the accepted value or alias whose key (lower case,
    letters and digits only: "  social-media " and "Social Media" are both 'socialmedia')
    equals the value's; NULL when none does. A value written exactly as an accepted value or
    alias is looked up as it is; only the others compute the key (a regular expression: 0.5 s of
    CPU per column at 1M rows). -#}
{% macro leakproof_category(raw, accepted_values, aliases) -%}
    {%- set keys = {} -%}
    {%- for value in accepted_values %}{% do keys.update({leakproof_category_key_of(value): value}) %}{% endfor -%}
    {%- for alias, value in aliases.items() if leakproof_category_key_of(alias) not in keys %}{% do keys.update({leakproof_category_key_of(alias): value}) %}{% endfor -%}
    {%- set exact = {} -%}
    {%- for text in (accepted_values | list) + (aliases.keys() | list) if (text | string).isascii() and text | string == (text | string) | trim and leakproof_category_key_of(text) in keys -%}
        {%- do exact.update({text | string: keys[leakproof_category_key_of(text)]}) -%}
    {%- endfor -%}
    {#- the key only for a value not written exactly (inside its own case: the planner hoists an
        expression used by several branches and would otherwise compute it for every row; not an
        `in` list, which DuckDB turns into a join) #}
    {%- set whens = [] -%}
    {%- for text, value in exact.items() -%}
        {%- do whens.append("when '" ~ text | replace("'", "''") ~ "' then '" ~ value | replace("'", "''") ~ "'") -%}
    {%- endfor -%}
    {%- set as_written = 'case ' ~ raw ~ ' ' ~ whens | join(' ') ~ ' end' -%}
    {%- set key = ('case when ' ~ as_written ~ ' is null then ' ~ leakproof_category_key(raw) ~ ' end')
        if whens else leakproof_category_key(raw) -%}
    coalesce(
        {{ as_written if whens else 'null' }},
        case {{ key }}
            {%- for key, value in keys.items() %}
            when '{{ key | replace("'", "''") }}' then '{{ value | replace("'", "''") }}'
            {%- endfor %}
        end
    )
{%- endmacro %}


{#- The category key of a text in Jinja (the SQL macro leakproof_category_key does the same). -#}
{% macro leakproof_category_key_of(value) -%}
    {{ return(modules.re.sub('[^a-z0-9]+', '', (value | string) | lower)) }}
{%- endmacro %}


{#- The lookup key of a category value in SQL: lower case, letters and digits only. -#}
{% macro leakproof_category_key(expression) -%}
    {{ return(adapter.dispatch('category_key', 'leakproof')(expression)) }}
{%- endmacro %}

{% macro default__category_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[^a-z0-9]+', '')
{%- endmacro %}

{% macro duckdb__category_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[^a-z0-9]+', '', 'g')
{%- endmacro %}


{#- A list of SQL string literals. -#}
{% macro leakproof_text_list(values) -%}
    {%- set quoted = [] -%}
    {%- for value in values %}{% do quoted.append("'" ~ (value | string) | replace("'", "''") ~ "'") %}{% endfor -%}
    {{ return(quoted | join(', ') if quoted else 'null') }}
{%- endmacro %}


{#- CamelCase / spaced raw names to snake_case: CustomerID -> customer_id, AdSpend -> ad_spend; an
    SQL keyword gets a trailing underscore (default -> default_), so generated SQL needs no
    quoting. (leakproof.declarations.snake_case is the same rule; a test checks they agree.) -#}
{% macro leakproof_snake_case(name) -%}
    {%- set reserved = "all analyse analyze and anti any array as asc asof asymmetric at authorization binary both by case cast check collate collation column columns concurrently constraint create cross default deferrable desc describe distinct do else end except false fetch for foreign freeze from full generated glob group having ilike in initially inner intersect into is isnull join lambda lateral leading left like limit map natural not notnull null offset on only or order outer overlaps pivot pivot_longer pivot_wider placing positional primary qualify references returning right select semi show similar some struct summarize symmetric table tablesample then to trailing true try_cast tuple union unique unpack unpivot using variadic verbose when where window with".split(' ') -%}
    {%- set spaced = modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', name) -%}
    {%- set spaced = modules.re.sub('([A-Z]+)([A-Z][a-z])', '\\1_\\2', spaced) -%}
    {%- set snake = modules.re.sub('[^a-z0-9]+', '_', spaced | lower) | trim('_') -%}
    {{ return(snake ~ '_' if snake in reserved else snake) }}
{%- endmacro %}
