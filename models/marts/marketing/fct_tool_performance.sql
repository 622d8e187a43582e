-- One row per ad-buying tool (every known value, plus any unknown value observed): labelled
-- customers, conversions, conversion rate with its Wilson interval, spend, shares, rank and the
-- gap to the best tool.
-- Built by the marketing_performance_mart macro, like every marketing rate table.
{{ marketing_performance_mart([
    {'name': 'tool', 'columns': ['advertising_tool'], 'domain': 'tool'},
]) }}
