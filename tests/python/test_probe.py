"""leakproof.probe: the permutation probe names every leak class lineage knows
(test_lineage_bypasses) without reading the SQL - SQL and a Python model alike - and passes
clean features; the chain it rebuilds holds the declared mechanisms fixed."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from leakproof.probe import (
    ProbeError,
    Step,
    chain,
    compare,
    permute,
    probe_use_case,
    rerun,
    verdicts,
)
from test_lineage_bypasses import BYPASSES

STAGED = '"memory"."main"."int_customers"'
FEATURES = '"memory"."main"."ml_features"'
BLOCKED = ["conversion", "conversion_rate", "refunded_after_30d"]
SEED = 7


def customers() -> pd.DataFrame:
    """1,000 labelled customers and 100 to score; channels that convert very differently (two at
    40-50 %, two at 5 %, three tiny ones whose one customer converted), so that a statistic of the
    target by channel moves when the target is shuffled - and so does a filter's outcome (does
    the channel have a converter, is it among the two best): a dependence the shuffle does not
    move is invisible to the probe (lineage reads it from the SQL)."""
    rng = np.random.default_rng(0)
    sizes = {"A": (200, 0.5), "B": (200, 0.4), "C": (300, 0.05), "D": (297, 0.05)}
    sizes |= {f"Tiny {i}": (1, 1.0) for i in (1, 2, 3)}
    channel = np.concatenate([[c] * n for c, (n, _) in sizes.items()])
    rate = np.concatenate([[r] * n for _, (n, r) in sizes.items()])
    conversion = (rng.random(len(channel)) < rate).astype(int)
    visits = rng.integers(1, 20, len(channel))
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(len(channel)),
            "income": rng.normal(60000, 15000, len(channel)).round(2),
            "campaign_channel": channel,
            "ad_spend": rng.gamma(2.0, 2000, len(channel)).round(2),
            "website_visits": visits,
            "conversion_rate": conversion / visits,
            "refunded_after_30d": (conversion == 1) & (rng.random(len(channel)) < 0.3),
            "conversion": conversion,
            "is_labelled": True,
        }
    )
    scoring = frame.sample(100, random_state=1).assign(
        customer_id=lambda f: f["customer_id"] + 10_000,
        conversion=None,
        conversion_rate=None,
        refunded_after_30d=None,
        is_labelled=False,
    )
    frame = pd.concat([frame, scoring], ignore_index=True)
    frame.insert(0, "entity_key", frame["customer_id"].astype(str))
    frame.insert(1, "source_file", np.where(frame["is_labelled"], "labelled", "scoring"))
    return frame


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.register("frame", customers())
    connection.execute(f"create table {STAGED} as select * from frame")
    connection.execute("create schema probe")
    return connection


def render(sql: str) -> str:
    return sql.replace("{{ ref('int_customers') }}", STAGED)


def feature_step(sql: str) -> Step:
    """The feature table, compiled SQL reading the staged rows (and what else it names)."""
    return Step("ml_features", FEATURES, "sql", sql)


def probe(con: duckdb.DuckDBPyConnection, steps: list[Step], keys: list[str]) -> pd.DataFrame:
    """The real feature table and the one rebuilt from the permuted rows, compared."""
    real = rerun(con, steps, {}, "main")[steps[-1].relation]
    permute(con, STAGED, "probe.permuted", BLOCKED, SEED, "is_labelled")
    rebuilt = rerun(con, steps, {STAGED: "probe.permuted"}, "probe")[steps[-1].relation]
    columns = [r[0] for r in con.execute(f"select column_name from (describe {real})").fetchall()]
    return compare(con, real, rebuilt, keys, [c for c in columns if c not in keys])


def test_the_permutation_moves_only_the_blocked_columns_within_the_labelled_rows(con) -> None:
    permute(con, STAGED, "probe.permuted", BLOCKED, SEED, "is_labelled")
    real = con.execute(f"select * from {STAGED} order by entity_key").df()
    permuted = con.execute("select * from probe.permuted order by entity_key").df()[real.columns]
    others = [c for c in real.columns if c not in BLOCKED]
    pd.testing.assert_frame_equal(real[others], permuted[others])
    labelled = real["is_labelled"]
    for column in BLOCKED:  # the same values, moved; the rows to score keep their NULLs
        assert sorted(real.loc[labelled, column]) == sorted(permuted.loc[labelled, column])
        assert permuted.loc[~labelled, column].isna().all()
    assert (real.loc[labelled, "conversion"] != permuted.loc[labelled, "conversion"]).sum() > 100
    # moved together: each row's rate still belongs to its conversion
    assert ((permuted["conversion_rate"] > 0) == (permuted["conversion"] == 1))[labelled].all()
    # seeded: the same permutation again
    permute(con, STAGED, "probe.again", BLOCKED, SEED, "is_labelled")
    again = con.execute("select * from probe.again order by entity_key").df()[real.columns]
    pd.testing.assert_frame_equal(permuted, again)


@pytest.mark.parametrize("name", list(BYPASSES))
def test_each_leak_class_changes_under_the_permutation(con, name: str) -> None:
    sql, feature, _ = BYPASSES[name]
    step = feature_step(render(sql))
    table = probe(con, [step], ["customer_id"]).set_index("column_name")["changed_rows"]
    assert table[feature] > 0, table
    assert table["income"] == 0  # the clean feature beside it


def test_clean_statistics_and_the_out_of_fold_shape_pass_and_a_python_model_leak_is_named(
    con,
) -> None:
    python_model = f"""
def model(dbt, session):
    frame = dbt.ref("int_customers").df()
    labelled = frame[frame["is_labelled"]]
    rates = labelled.groupby("campaign_channel", as_index=False).agg(
        channel_rate_py=("conversion", "mean"), channel_income_py=("income", "mean")
    )
    return rates


def ref(*args, dbt_load_df_function):
    return dbt_load_df_function({{"int_customers": {STAGED!r}}}[args[0]])


class dbtObj:
    def __init__(self, load_df_function):
        self.ref = lambda *args: ref(*args, dbt_load_df_function=load_df_function)
"""
    rates = Step("int_channel_rates", '"memory"."main"."int_channel_rates"', "python", python_model)
    features = feature_step(
        f"""
        select
            c.customer_id,
            c.income,
            avg(c.ad_spend) over (partition by c.campaign_channel) as channel_spend,
            r.channel_rate_py,
            r.channel_income_py
        from {STAGED} as c
        left join {rates.relation} as r on c.campaign_channel = r.campaign_channel
        """
    )
    table = probe(con, [rates, features], ["customer_id"])
    roles = dict.fromkeys(table["column_name"], "feature")
    judged = verdicts(table, roles, ["channel_spend"], "ml_features").set_index("column_name")
    assert judged["verdict"].to_dict() == {
        "income": "unchanged",
        "channel_spend": "unchanged",  # allowed, yet unchanged: reported as such
        "channel_rate_py": "leak",
        "channel_income_py": "unchanged",  # the Python model's clean column
    }
    changed = judged.loc["channel_rate_py", "changed_rows"]
    assert changed > 1000  # every channel's rate moves, or nearly
    assert judged.loc["channel_rate_py", "message"].startswith(
        f"ml_features.channel_rate_py changes in {changed} of 1100 rows when the target"
    )


def test_a_use_case_probed_whole_with_a_control_for_nondeterminism(con) -> None:
    declaration = SimpleNamespace(
        name="uc",
        blocked_columns=tuple(BLOCKED),
        id_columns=("customer_id",),
        target="conversion",
        target_encodings={"channel_rate_oof": {}},
    )
    features = feature_step(
        f"""
        select
            entity_key,
            case when is_labelled then 'train' else 'score' end as split,
            customer_id,
            conversion,
            income,
            avg(conversion) over (partition by campaign_channel) as channel_rate_oof,
            avg(conversion) over (partition by campaign_channel) as channel_rate,
            income * (1 + random()) as noisy_income
        from {STAGED}
        """
    )
    con.execute(f"create table {FEATURES} as {features.code}")
    table = probe_use_case(con, declaration, [features], STAGED, FEATURES, SEED, "probe")
    verdict = dict(zip(table["column_name"], table["verdict"], strict=True))
    assert verdict == {
        "entity_key": "not_a_feature",
        "split": "not_a_feature",
        "customer_id": "not_a_feature",
        "conversion": "not_a_feature",
        "income": "unchanged",
        "channel_rate_oof": "changed_allowed",
        "channel_rate": "leak",
        "noisy_income": "nondeterministic",
    }
    messages = dict(zip(table["column_name"], table["message"], strict=True))
    assert messages["noisy_income"].startswith("ml_features.noisy_income changes in 1100 of 1100")
    assert "nondeterministic" in messages["noisy_income"]
    assert table["permuted_columns"].unique().tolist() == [", ".join(BLOCKED)]
    # the scratch tables are gone
    assert con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'probe'"
    ).fetchone() == (0,)


def test_an_allowed_encoding_that_changes_is_reported_not_failed() -> None:
    table = pd.DataFrame(
        {"column_name": ["oof", "leaky", "conversion"], "rows_compared": 10, "changed_rows": 4}
    )
    roles = {"oof": "feature", "leaky": "feature", "conversion": "target"}
    judged = verdicts(table, roles, ["oof"], "f").set_index("column_name")["verdict"]
    assert judged.to_dict() == {
        "oof": "changed_allowed",
        "leaky": "leak",
        "conversion": "not_a_feature",
    }


def test_doubles_within_the_tolerance_are_the_same_and_missing_rows_differ() -> None:
    con = duckdb.connect()
    con.execute("create table r as select * from (values (1, 1.0, 'a'), (2, 2.0, 'b')) t(k, x, s)")
    con.execute(
        "create table b as select * from (values (1, 1.0 + 1e-12, 'a'), (3, 2.0, 'b')) t(k, x, s)"
    )
    table = compare(con, "r", "b", ["k"], ["x", "s"]).set_index("column_name")
    # key 1 the same (x within 1e-9); keys 2 and 3 on one side only
    assert table["changed_rows"].to_dict() == {"x": 2, "s": 2}
    assert set(table["rows_compared"]) == {3}


def _manifest() -> dict:
    def node(name: str, parents: list[str], meta: dict | None = None) -> dict:
        return {
            "name": name,
            "resource_type": "model",
            "relation_name": f'"wh"."s"."{name}"',
            "language": "sql",
            "config": {"meta": meta or {}},
            "depends_on": {"nodes": [f"model.p.{p}" for p in parents]},
        }

    nodes = {
        "base": node("base", []),
        "stg": node("stg", ["base"]),
        "split": node("split", ["stg"], {"leakage_mechanisms": {"split": "declared"}}),
        "ephemeral": {**node("ephemeral", ["stg"]), "relation_name": None},  # inlined
        "prepared": node("prepared", ["stg", "split", "ephemeral"]),
        "lookup": node("lookup", ["base"]),  # not downstream of the staged rows: read as it is
        "side": node("side", ["prepared"]),
        "features": node("features", ["prepared", "side", "lookup"]),
        "unrelated": node("unrelated", ["stg"]),
    }
    return {"nodes": {f"model.p.{k}": v for k, v in nodes.items()}}


def test_the_chain_runs_every_model_between_staged_and_features_but_the_mechanisms() -> None:
    manifest = _manifest()
    code = {unique_id: "select 1" for unique_id in manifest["nodes"]}
    steps = chain(manifest, code, "model.p.stg", "model.p.features")
    assert [s.name for s in steps] == ["prepared", "side", "features"]
    assert steps[0].relation == '"wh"."s"."prepared"'
    del code["model.p.side"]
    with pytest.raises(ProbeError, match="no compiled code for side"):
        chain(manifest, code, "model.p.stg", "model.p.features")
