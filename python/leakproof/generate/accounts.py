"""The B2B accounts' structural model: campaign waves, recurring accounts, drift, true response.

Waves 1..N-1 draw new accounts from one stable population; the newest wave draws its new
accounts from a shifted population (larger companies, more visits, a different industry mix)
scaled by `drift_shift`. Recurring accounts keep their firmographics and their contract clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from leakproof.generate import params as P

INDUSTRY_NAMES: tuple[str, ...] = tuple(P.INDUSTRIES)
REGION_NAMES: tuple[str, ...] = tuple(P.REGIONS)
REFERENCE_ENTROPY = 20_250_601
REFERENCE_ROWS = 300_000


def _industry_probabilities(shift: float) -> np.ndarray:
    logits = np.log([v["share"] for v in P.INDUSTRIES.values()])
    logits = logits + shift * np.array([v["tilt"] for v in P.INDUSTRIES.values()])
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(
        np.searchsorted(np.cumsum(probs), rng.random(n) * probs.sum()), len(probs) - 1
    )


@dataclass
class AccountPool:
    """Static and evolving state of every account created so far (grows wave by wave)."""

    industry: np.ndarray
    region: np.ndarray
    size: np.ndarray
    rpe: np.ndarray  # revenue per employee
    visit_rate: np.ndarray
    term: np.ndarray
    remaining: np.ndarray  # contract months remaining when last seen
    last_wave: np.ndarray

    @classmethod
    def empty(cls) -> AccountPool:
        ints, floats = np.zeros(0, np.int64), np.zeros(0)
        return cls(ints, ints, ints, floats, floats, ints, ints, ints)

    def __len__(self) -> int:
        return self.industry.shape[0]

    def extend(self, other: AccountPool) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


def new_accounts(rng: np.random.Generator, n: int, wave: int, shift: float) -> AccountPool:
    """Draw `n` new accounts, first seen in `wave`, from the population shifted by `shift`."""
    pop = P.ACCOUNT_POPULATION
    industry = _categorical(rng, _industry_probabilities(shift), n)
    region = _categorical(rng, np.array(list(P.REGIONS.values())), n)
    size_offset = np.array([v["size"] for v in P.INDUSTRIES.values()])[industry]
    log_size = (
        pop["log_size_mean"]
        + size_offset
        + shift * P.DRIFT_PER_UNIT["log_size"]
        + rng.normal(0.0, pop["log_size_sd"], n)
    )
    size = np.clip(np.round(np.exp(log_size)), 5, 250_000).astype(np.int64)
    median_rpe = np.array([v["rpe"] for v in P.INDUSTRIES.values()])[industry]
    rpe = median_rpe * np.exp(rng.normal(0.0, pop["log_rpe_sd"], n))
    visit_rate = np.exp(rng.normal(pop["log_visit_rate_mean"], pop["log_visit_rate_sd"], n))
    terms = np.array(list(P.CONTRACT_TERMS))
    term = terms[_categorical(rng, np.array(list(P.CONTRACT_TERMS.values())), n)]
    remaining = np.floor(rng.random(n) * term).astype(np.int64)
    return AccountPool(
        industry=industry,
        region=region,
        size=size,
        rpe=rpe,
        visit_rate=visit_rate,
        term=term,
        remaining=remaining,
        last_wave=np.full(n, wave, np.int64),
    )


@dataclass(frozen=True)
class AccountWaves:
    """All rows (account x wave) with clean values and the true response probability."""

    account_id: np.ndarray
    wave: np.ndarray  # 1-based
    industry: np.ndarray
    region: np.ndarray
    company_size: np.ndarray
    annual_revenue: np.ndarray
    website_visits_30d: np.ndarray
    contract_remaining_months: np.ndarray
    p_response: np.ndarray
    response: np.ndarray  # realised for every wave (the file hides the newest wave's)


def response_logit(
    company_size: np.ndarray,
    annual_revenue: np.ndarray,
    visits: np.ndarray,
    remaining: np.ndarray,
    industry: np.ndarray,
) -> np.ndarray:
    """Response logit without the baseline: the seed's business rules carry the signal."""
    e = P.RESPONSE_EFFECTS
    rpe = np.log(annual_revenue / np.maximum(company_size, 1))
    industry_effect = np.array([v["effect"] for v in P.INDUSTRIES.values()])[industry]
    return (
        e["renewal_window"] * (remaining <= 3)
        + e["long_contract"] * (remaining >= 12)
        + e["high_engagement"] * (visits >= 5)
        + e["low_engagement"] * (visits <= 1)
        + e["large_account"] * (company_size >= 800)
        + e["small_account"] * (company_size < 60)
        + e["revenue_per_employee"] * (rpe - 12.2) / 0.6
        + industry_effect
    )


def wave_sizes(total: int, n_waves: int = P.N_WAVES) -> list[int]:
    """Split `total` rows over the waves as evenly as possible."""
    return [total // n_waves + (w < total % n_waves) for w in range(n_waves)]


def simulate_waves(
    rng: np.random.Generator, total_rows: int, drift_shift: float, baseline: float
) -> AccountWaves:
    """Simulate every wave: recurring accounts advance their contract clock, new ones arrive."""
    pool = AccountPool.empty()
    parts: list[dict[str, np.ndarray]] = []
    for w, n in enumerate(wave_sizes(total_rows), start=1):
        shift = drift_shift if w == P.N_WAVES else 0.0
        n_recurring = min(round(n * P.RECURRING_SHARE), len(pool)) if w > 1 else 0
        recurring = np.sort(rng.choice(len(pool), n_recurring, replace=False))
        elapsed = (w - pool.last_wave[recurring]) * P.MONTHS_BETWEEN_WAVES
        term = pool.term[recurring]
        pool.remaining[recurring] = (pool.remaining[recurring] - elapsed) % term
        pool.last_wave[recurring] = w
        first_new = len(pool)
        pool.extend(new_accounts(rng, n - n_recurring, w, shift))
        rows = np.concatenate([recurring, np.arange(first_new, len(pool))])
        multiplier = 1.0 + shift * P.DRIFT_PER_UNIT["visit_rate"]
        visits = np.minimum(rng.poisson(pool.visit_rate[rows] * multiplier), 300)
        revenue = np.round(pool.size[rows] * pool.rpe[rows], -3)
        parts.append(
            {
                "account_id": rows + 1,
                "wave": np.full(rows.shape[0], w, np.int64),
                "industry": pool.industry[rows],
                "region": pool.region[rows],
                "company_size": pool.size[rows],
                "annual_revenue": np.maximum(revenue, 1000).astype(np.int64),
                "website_visits_30d": visits.astype(np.int64),
                "contract_remaining_months": pool.remaining[rows].copy(),
            }
        )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    logit = baseline + response_logit(
        cols["company_size"],
        cols["annual_revenue"],
        cols["website_visits_30d"],
        cols["contract_remaining_months"],
        cols["industry"],
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    response = (rng.random(p.shape[0]) < p).astype(np.int8)
    return AccountWaves(**cols, p_response=p, response=response)


@lru_cache(maxsize=1)
def baseline() -> float:
    """Response baseline solved on a fixed reference run so labelled waves respond at 19.6 %."""
    rng = np.random.default_rng(np.random.SeedSequence(REFERENCE_ENTROPY))
    ref = simulate_waves(rng, REFERENCE_ROWS, drift_shift=0.0, baseline=0.0)
    logit = np.log(ref.p_response / (1 - ref.p_response))[ref.wave < P.N_WAVES]
    target = P.TARGET_RESPONSE_RATE
    b = float(np.log(target / (1 - target)))
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(b + logit)))
        step = (p.mean() - target) / (p * (1 - p)).mean()
        b -= float(step)
        if abs(step) < 1e-12:
            break
    return b
