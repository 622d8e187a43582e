"""The leakage audit finds planted leaks by itself and stops at the honest AUC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leakproof import audit as audit_module
from leakproof.audit import AuditSettings, leakage_audit


def planted(rows: int = 6000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    spend = rng.uniform(100, 5000, size=rows)
    channel = rng.choice(["Email", "SEO", "Referral"], size=rows)
    outcome = (rng.uniform(size=rows) < 1 / (1 + np.exp(-(-2.0 + 0.8 * signal)))).astype(int)
    visits = rng.integers(1, 40, size=rows)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=rows),
            "spend": spend,
            "channel": channel,
            # the seed document's leaks
            "rate_from_target": outcome / visits,
            "cpa_proxy": spend / (outcome + 1),
            "split": np.where(np.arange(rows) % 4 == 0, "test", "train"),
            "outcome": outcome,
        }
    )


def test_audit_drops_exactly_the_planted_leaks_and_ends_clean() -> None:
    frame = planted()
    features = ["signal", "noise", "spend", "channel", "rate_from_target", "cpa_proxy"]
    audit = leakage_audit(frame, "outcome", features, settings=AuditSettings(seed=1))
    assert audit["scenario"].tolist()[0] == "A"
    assert audit["test_auc"].iloc[0] > 0.99
    assert bool(audit["is_leak"].iloc[0])
    assert set(audit["dropped_column"].dropna()) == {"rate_from_target", "cpa_proxy"}
    final = audit.iloc[-1]
    assert not final["is_leak"]
    assert 0.6 < final["test_auc"] < 0.8  # the planted signal's honest level
    assert final["features_used"] == 4


def test_audit_on_capped_samples_finds_the_same_leaks(monkeypatch) -> None:
    frame = planted(rows=12_000)
    features = ["signal", "noise", "spend", "channel", "rate_from_target", "cpa_proxy"]
    fitted_rows: list[tuple[int, int]] = []
    real_fit = audit_module._fit_auc

    def spy(train, test, *args):
        fitted_rows.append((len(train), len(test)))
        return real_fit(train, test, *args)

    monkeypatch.setattr(audit_module, "_fit_auc", spy)
    settings = AuditSettings(seed=1, max_training_rows=2000, max_test_rows=1500)
    audit = leakage_audit(frame, "outcome", features, settings=settings)
    assert set(fitted_rows) == {(2000, 1500)}
    assert set(audit["dropped_column"].dropna()) == {"rate_from_target", "cpa_proxy"}
    assert not audit["is_leak"].iloc[-1]


def test_audit_of_clean_features_is_one_clean_scenario() -> None:
    frame = planted()
    audit = leakage_audit(frame, "outcome", ["signal", "noise", "spend", "channel"])
    assert len(audit) == 1
    assert not audit["is_leak"].iloc[0]


def test_audit_needs_both_outcomes() -> None:
    frame = planted()
    frame["outcome"] = 0
    with pytest.raises(ValueError, match="both outcomes"):
        leakage_audit(frame, "outcome", ["signal"])
