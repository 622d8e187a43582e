-- One row per distinct raw row of customers: typed, canonicalised, checked. See validated_source.
{{ config(materialized='table') }}

{{ validated_source('marketing', 'customers') }}
