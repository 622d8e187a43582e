{#- The proof test of the split and fold assignment, the declared mechanism through which the
    target legitimately decides which rows are trained on (stratification): returns one row per
    violation of what the use case declares.
      - split is train / test / score, and score exactly on the unlabelled rows;
      - stratified: within each outcome, the test share is round(rows x test_fraction) exactly;
        time: the test rows are exactly the newest test_periods labelled periods, and no training
        row is newer than a test row; grouped: no entity is in both train and test;
      - cv_fold is set exactly on training rows, within 0 .. folds - 1; stratified folds differ in
        size by at most one within each outcome; with a fold_group, no entity spans two folds. -#}
{% test split_is_declared(model, use_case) %}
    {%- set declared = leakproof_use_case(use_case) if execute else none -%}
    {%- set split = declared.split if execute else {'method': 'stratified', 'folds': 5, 'fold_group': none, 'test_fraction': 0.2} -%}
    {%- set target = declared.target if execute else 'null' %}

with

rows_checked as (

    select * from {{ model }}

),

bad_split_values as (

    select 'split is ' || coalesce(split, 'NULL') || (case when is_labelled then ' on a labelled row' else ' on an unlabelled row' end) as violation
    from rows_checked
    where
        split not in ('train', 'test', 'score')
        or split is null
        or (split = 'score') = is_labelled

),

bad_folds as (

    select 'cv_fold ' || coalesce(cast(cv_fold as {{ leakproof_varchar() }}), 'NULL') || ' on a ' || split || ' row' as violation
    from rows_checked
    where
        (split = 'train') != (cv_fold is not null)
        or cv_fold < 0
        or cv_fold >= {{ split.folds }}

),
{%- if split.method == 'stratified' %}

test_shares as (

    select
        'outcome ' || cast({{ target }} as {{ leakproof_varchar() }}) || ': ' || cast(count(*) filter (where split = 'test') as {{ leakproof_varchar() }})
        || ' test rows of ' || cast(count(*) as {{ leakproof_varchar() }}) || ', declared share {{ split.test_fraction }}' as violation
    from rows_checked
    where is_labelled
    group by {{ target }}
    having count(*) filter (where split = 'test') != round(count(*) * {{ split.test_fraction }})

),
{%- elif split.method == 'time' %}

test_shares as (

    select 'training row in period ' || cast(max({{ split.column }}) filter (where split = 'train') as {{ leakproof_varchar() }})
        || ' is not older than test period ' || cast(min({{ split.column }}) filter (where split = 'test') as {{ leakproof_varchar() }}) as violation
    from rows_checked
    having max({{ split.column }}) filter (where split = 'train') >= min({{ split.column }}) filter (where split = 'test')
    union all
    select 'the test split has ' || cast(count(distinct {{ split.column }}) as {{ leakproof_varchar() }}) || ' periods, declared {{ split.test_periods }}' as violation
    from rows_checked
    where split = 'test'
    having count(distinct {{ split.column }}) != {{ split.test_periods }}

),
{%- else %}

test_shares as (

    select 'entity ' || cast({{ split.column }} as {{ leakproof_varchar() }}) || ' is in both train and test' as violation
    from rows_checked
    where split in ('train', 'test')
    group by {{ split.column }}
    having count(distinct split) > 1

),
{%- endif %}

fold_balance as (
    {%- if split.fold_group %}

    select 'entity ' || cast({{ split.fold_group }} as {{ leakproof_varchar() }}) || ' spans ' || cast(count(distinct cv_fold) as {{ leakproof_varchar() }}) || ' folds' as violation
    from rows_checked
    where split = 'train'
    group by {{ split.fold_group }}
    having count(distinct cv_fold) > 1
    {%- else %}

    select 'outcome ' || cast({{ target }} as {{ leakproof_varchar() }}) || ': fold sizes ' || cast(min(fold_rows) as {{ leakproof_varchar() }})
        || ' to ' || cast(max(fold_rows) as {{ leakproof_varchar() }}) as violation
    from (
        select {{ target }}, cv_fold, count(*) as fold_rows
        from rows_checked
        where split = 'train'
        group by {{ target }}, cv_fold
    )
    group by {{ target }}
    having max(fold_rows) - min(fold_rows) > 1
    {%- endif %}

),

final as (

    select * from bad_split_values
    union all
    select * from bad_folds
    union all
    select * from test_shares
    union all
    select * from fold_balance

)

select * from final

{% endtest %}
