{{ quarantined_rows('marketing', 'customers') }}
