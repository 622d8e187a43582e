-- One row per distinct raw row of accounts: typed, canonicalised, checked. See validated_source.
{{ config(materialized='table') }}

{{ validated_source('b2b', 'accounts') }}
