-- One row per raw source table, quarantine reason code and raw column: how many distinct raw rows
-- have that problem (a row with several problems counts under each) and how many raw rows they
-- stand for (exact duplicates included).
{%- set quarantine_models = [
    ('marketing', 'customers', ref('stg_marketing__customers_quarantine')),
    ('marketing', 'customers_scoring', ref('stg_marketing__customers_scoring_quarantine')),
    ('b2b', 'accounts', ref('stg_b2b__accounts_quarantine')),
] %}

with

{% for source_name, table_name, quarantine in quarantine_models -%}
{{ source_name }}__{{ table_name }} as (

    select
        '{{ source_name }}' as source_name,
        '{{ table_name }}' as table_name,
        source_row_number,
        duplicate_count,
        quarantine_reasons
    from {{ quarantine }}

),

{% endfor -%}
quarantined as (
    {% for source_name, table_name, quarantine in quarantine_models %}
    select * from {{ source_name }}__{{ table_name }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

one_row_per_reason as (

    select
        source_name,
        table_name,
        duplicate_count,
        unnest(string_split(quarantine_reasons, '; ')) as reason
    from quarantined

),

final as (

    select
        source_name,
        table_name,
        split_part(reason, ':', 1) as quarantine_reason_code,
        split_part(reason, ':', 2) as quarantine_column,
        count(*) as quarantined_rows,
        cast(sum(duplicate_count) as bigint) as raw_rows
    from one_row_per_reason
    group by source_name, table_name, quarantine_reason_code, quarantine_column

)

select * from final
