-- One row per campaign channel x advertising platform: the complete grid of every known channel
-- crossed with every known platform (7 x 7 = 49 on the standard categories, plus any unknown
-- value observed); empty combinations are explicit rows with 0 customers and NULL rates.
-- Built by the marketing_performance_mart macro, like every marketing rate table.
{{ marketing_performance_mart([
    {'name': 'channel', 'columns': ['campaign_channel'], 'domain': 'channel'},
    {'name': 'platform', 'columns': ['advertising_platform'], 'domain': 'platform'},
]) }}
