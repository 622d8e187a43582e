{{ quarantined_rows('b2b', 'accounts') }}
