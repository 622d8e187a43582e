{{ quarantined_rows('marketing', 'customers_scoring') }}
