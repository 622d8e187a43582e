{#-
    Segment bands, shared by the prepared rows, the feature tables and the analytics marts. A band
    list (a use case's `segments` in its declaration) is a list of {label, up_to}, in increasing
    order, where `up_to` is the inclusive upper bound and the last band has none (open-ended). Right-closed, as pandas.cut:
    a value equal to a bound falls in the lower band, so income 80,000 is 'mid' and 'high' is
    strictly above $80K, as the marketing document defines high-income. NULL stays NULL.
-#}
{% macro band(expression, bands) -%}
    {%- if bands | length == 0 -%}
        {{ exceptions.raise_compiler_error("band: the band list is empty") }}
    {%- endif -%}
    case
        when {{ expression }} is null then null
        {%- for band in bands %}
        {%- if band.get('up_to') is none and not loop.last %}
            {{ exceptions.raise_compiler_error("band: only the last band may omit up_to, see " ~ band.label) }}
        {%- endif %}
        {%- if not loop.last %}
        when {{ expression }} <= {{ band.up_to }} then '{{ band.label }}'
        {%- else %}
        else '{{ band.label }}'
        {%- endif %}
        {%- endfor %}
    end
{%- endmacro %}


{#- The labels of a band list, in order (for complete grids). -#}
{% macro band_labels(bands) -%}
    {{ return(bands | map(attribute='label') | list) }}
{%- endmacro %}
