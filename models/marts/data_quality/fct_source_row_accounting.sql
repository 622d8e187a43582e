-- One row per raw source table: where every raw row went. raw_rows = staged_rows +
-- quarantined_rows + duplicates_collapsed (test rows_conserved checks it on each source).
{%- set validated_models = [
    ('marketing', 'customers', ref('base_marketing__customers_validated')),
    ('marketing', 'customers_scoring', ref('base_marketing__customers_scoring_validated')),
    ('b2b', 'accounts', ref('base_b2b__accounts_validated')),
] %}

with

{% for source_name, table_name, validated in validated_models -%}
{{ source_name }}__{{ table_name }} as (

    select
        '{{ source_name }}' as source_name,
        '{{ table_name }}' as table_name,
        cast(coalesce(sum(duplicate_count), 0) as bigint) as raw_rows,
        count(*) filter (where quarantine_reasons is null) as staged_rows,
        count(*) filter (where quarantine_reasons is not null) as quarantined_rows,
        cast(coalesce(sum(duplicate_count - 1), 0) as bigint) as duplicates_collapsed,
        count(*) filter (
            where quarantine_reasons is null and has_unknown_category
        ) as staged_rows_with_unknown_category
    from {{ validated }}

),

{% endfor -%}
final as (
    {% for source_name, table_name, validated in validated_models %}
    select
        source_name,
        table_name,
        raw_rows,
        staged_rows,
        quarantined_rows,
        duplicates_collapsed,
        staged_rows_with_unknown_category
    from {{ source_name }}__{{ table_name }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
