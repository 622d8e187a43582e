-- One row per campaign channel (every known channel, plus any unknown value observed): labelled
-- customers, conversions, conversion rate with its Wilson interval, spend, shares, rank and the
-- gap to the best channel.
-- Built by the marketing_performance_mart macro, like every marketing rate table.
{{ marketing_performance_mart([
    {'name': 'channel', 'columns': ['campaign_channel'], 'domain': 'channel'},
]) }}
