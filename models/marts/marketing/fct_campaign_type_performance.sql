-- One row per campaign type, i.e. objective (every known value, plus any unknown value
-- observed): labelled customers, conversions, conversion rate with its Wilson interval, spend,
-- shares, rank and the gap to the best campaign type.
-- Built by the marketing_performance_mart macro, like every marketing rate table.
{{ marketing_performance_mart([
    {'name': 'campaign_type', 'columns': ['campaign_type'], 'domain': 'campaign_type'},
]) }}
