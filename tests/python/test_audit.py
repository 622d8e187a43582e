"""The leakage audit drops exactly the leaks planted in synthetic data, and never an honest
column - the strong one, or a high-cardinality category whose in-sample rate looks like a leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leakproof import audit as audit_module
from leakproof.audit import AuditSettings, leakage_audit

HONEST = ["signal", "noise", "spend", "channel", "visits", "zip_code"]
# the marketing document's leaks, and two more
PLANTED = ["target_plus_noise", "cpa_proxy", "conversion_rate", "zip_rate_naive"]


def planted(rows: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Customers whose outcome depends on `signal` alone (a logistic ground truth, ~14 %
    positives), with honest columns and the planted leaks:
    - target_plus_noise: the outcome plus Gaussian noise;
    - cpa_proxy: spend / (outcome + 1), the target in the denominator (harmless alone,
      exact beside spend);
    - conversion_rate: outcome / visits, a rate derived from the target;
    - zip_rate_naive: the outcome rate of the customer's zip code over all labelled rows, its
      own outcome included (a naive target encoding of a high-cardinality category).
    The honest `zip_code` itself carries no signal."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    probability = 1 / (1 + np.exp(-(-2.2 + 1.1 * signal)))
    outcome = (rng.uniform(size=rows) < probability).astype(int)
    spend = rng.uniform(100, 5000, size=rows)
    visits = rng.integers(1, 40, size=rows)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=rows),
            "spend": spend,
            "channel": rng.choice(["Email", "SEO", "Referral", "PPC"], size=rows),
            "visits": visits,
            "zip_code": [f"z{z}" for z in rng.integers(0, rows // 4, size=rows)],
            "target_plus_noise": outcome + rng.normal(0, 0.35, size=rows),
            "cpa_proxy": spend / (outcome + 1),
            "conversion_rate": outcome / visits,
            "split": np.where(rng.uniform(size=rows) < 0.25, "test", "train"),
            "probability": probability,
            "outcome": outcome,
        }
    )
    frame["zip_rate_naive"] = frame.groupby("zip_code")["outcome"].transform("mean")
    return frame


def oracle_auc(frame: pd.DataFrame) -> float:
    """Held-out AUC of the true probability: the best any honest model can do."""
    test = frame[frame["split"] == "test"]
    return float(roc_auc_score(test["outcome"], test["probability"]))


@pytest.mark.parametrize("seed", [0, 1])
def test_audit_drops_exactly_the_planted_leaks(seed: int) -> None:
    frame = planted(seed=seed)
    oracle = oracle_auc(frame)
    # on data with a ground truth, an AUC clearly above the oracle's is too good to be true
    settings = AuditSettings(seed=1, alarm_auc=oracle + 0.05)
    audit = leakage_audit(frame, "outcome", HONEST + PLANTED, settings=settings)
    dropped = audit["dropped_column"].dropna().tolist()
    assert sorted(dropped) == sorted(PLANTED)
    assert audit["step"].tolist() == list(range(len(PLANTED) + 1))
    assert audit["is_leak"].tolist() == [True] * len(PLANTED) + [False]
    assert audit["test_auc"].iloc[0] > 0.99
    final = audit.iloc[-1]
    assert final["features_used"] == len(HONEST)
    assert oracle - 0.08 < final["test_auc"] <= oracle + 0.01  # the honest level


def test_a_high_cardinality_category_is_judged_on_held_out_rows() -> None:
    frame = planted(seed=0)
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    single = audit_module._single_column_aucs(train, test, "outcome", ["zip_code", "signal"])
    # in-sample, the zip code's own outcome rate separates the training rows almost perfectly
    in_sample = train["zip_code"].map(train.groupby("zip_code")["outcome"].mean())
    assert roc_auc_score(train["outcome"], in_sample) > 0.85
    assert single["zip_code"] < 0.6
    assert single["signal"] == pytest.approx(oracle_auc(frame), abs=0.03)


def test_audit_on_capped_samples_finds_the_same_leaks(monkeypatch) -> None:
    frame = planted(rows=12_000, seed=3)
    fitted_rows: list[tuple[int, int]] = []
    real_fit = audit_module._fit_auc

    def spy(train, test, *args):
        fitted_rows.append((len(train), len(test)))
        return real_fit(train, test, *args)

    monkeypatch.setattr(audit_module, "_fit_auc", spy)
    # with the default alarm (0.9): the blatant leaks, never the strong honest column
    blatant = ["conversion_rate", "cpa_proxy"]
    settings = AuditSettings(seed=1, max_training_rows=2000, max_test_rows=1500)
    audit = leakage_audit(frame, "outcome", HONEST + blatant, settings=settings)
    assert set(fitted_rows) == {(2000, 1500)}
    assert sorted(audit["dropped_column"].dropna()) == blatant
    assert not audit["is_leak"].iloc[-1]
    assert audit["test_auc"].iloc[-1] > 0.7  # signal stayed


def test_audit_of_clean_features_is_one_clean_scenario() -> None:
    frame = planted(seed=0)
    audit = leakage_audit(frame, "outcome", HONEST, settings=AuditSettings(seed=1))
    assert len(audit) == 1
    assert audit["dropped_column"].isna().all()
    assert not audit["is_leak"].iloc[0]


def test_audit_needs_both_outcomes() -> None:
    frame = planted()
    frame["outcome"] = 0
    with pytest.raises(ValueError, match="both outcomes"):
        leakage_audit(frame, "outcome", ["signal"])
