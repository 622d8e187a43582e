-- One row per ad platform (every known value, plus any unknown value observed): labelled
-- customers, conversions, conversion rate with its Wilson interval, spend, shares, rank and the
-- gap to the best ad platform.
-- Built by the marketing_performance_mart macro, like every marketing rate table.
{{ marketing_performance_mart([
    {'name': 'platform', 'columns': ['advertising_platform'], 'domain': 'platform'},
]) }}
