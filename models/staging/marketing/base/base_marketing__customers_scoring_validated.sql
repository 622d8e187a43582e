-- One row per distinct raw row of customers_scoring: typed, canonicalised, checked.
{{ config(materialized='table') }}

{{ validated_source('marketing', 'customers_scoring') }}
