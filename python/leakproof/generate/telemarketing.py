"""The telemarketing calls' structural model: a bank's outbound term-deposit campaign.

The shape of the public UCI "bank marketing" table (one row per client called, no id), generated
rather than downloaded. `y` ("did the client subscribe?") follows a logit of the pre-call
covariates; `call_duration` is drawn *from the outcome*, so it predicts `y` strongly but is known
only after the call: the classic post-outcome leak. Constants live here (not in params.py, whose
every constant the demo's truth.json repeats); `parameters()` returns them for the truth file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

COLUMNS: tuple[str, ...] = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "call_duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
)
TARGET = "y"
POST_OUTCOME = "call_duration"
UNKNOWN = "unknown"
YES_NO: tuple[str, ...] = ("no", "yes")
# Working-age job shares; "retired" and "student" follow age (see `_draw_job`).
JOB_SHARES: dict[str, float] = {
    "admin.": 0.120,
    "blue-collar": 0.225,
    "entrepreneur": 0.034,
    "housemaid": 0.028,
    "management": 0.220,
    "self-employed": 0.036,
    "services": 0.097,
    "technician": 0.177,
    "unemployed": 0.030,
}
JOBS: tuple[str, ...] = (*JOB_SHARES, "retired", "student")
MARITAL: tuple[str, ...] = ("married", "single", "divorced")
EDUCATION: tuple[str, ...] = ("primary", "secondary", "tertiary")
# P(primary, secondary, tertiary | job); jobs not listed use DEFAULT_EDUCATION.
EDUCATION_BY_JOB: dict[str, tuple[float, float, float]] = {
    "admin.": (0.04, 0.80, 0.16),
    "blue-collar": (0.40, 0.56, 0.04),
    "entrepreneur": (0.15, 0.40, 0.45),
    "housemaid": (0.60, 0.30, 0.10),
    "management": (0.04, 0.13, 0.83),
    "retired": (0.38, 0.45, 0.17),
    "self-employed": (0.10, 0.40, 0.50),
    "student": (0.05, 0.60, 0.35),
    "technician": (0.03, 0.72, 0.25),
}
DEFAULT_EDUCATION: tuple[float, float, float] = (0.15, 0.70, 0.15)
CONTACTS: tuple[str, ...] = ("cellular", "telephone", "unknown")
MONTHS: tuple[str, ...] = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
MONTH_SHARES: tuple[float, ...] = (
    0.031,
    0.059,
    0.011,
    0.065,
    0.304,
    0.118,
    0.153,
    0.138,
    0.013,
    0.016,
    0.088,
    0.004,
)
DAYS_IN_MONTH: tuple[int, ...] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# P(contact recorded as "unknown" | month): the early-summer waves did not record the channel.
CONTACT_UNKNOWN_BY_MONTH: dict[str, float] = {"may": 0.55, "jun": 0.75}
CONTACT_UNKNOWN_OTHER = 0.03
# P(contacted in an earlier campaign | month); autumn and winter calls re-contact more.
PREVIOUS_CONTACT_BY_MONTH: tuple[float, ...] = (
    0.20,
    0.25,
    0.45,
    0.25,
    0.10,
    0.05,
    0.06,
    0.12,
    0.45,
    0.45,
    0.25,
    0.45,
)
POUTCOMES: tuple[str, ...] = ("unknown", "failure", "other", "success")
PREVIOUS_OUTCOME_SHARES: tuple[float, ...] = (0.0, 0.59, 0.22, 0.19)  # given an earlier contact
# The text columns and their values (the file writes a -1 index as "unknown").
CATEGORIES: dict[str, tuple[str, ...]] = {
    "job": JOBS,
    "marital": MARITAL,
    "education": EDUCATION,
    "default": YES_NO,
    "housing": YES_NO,
    "loan": YES_NO,
    "contact": CONTACTS,
    "month": MONTHS,
    "poutcome": POUTCOMES,
}

TARGET_RATE = 0.117  # the public table's share of "yes"
# logit p(yes) = baseline + sum of the effects below (see `yes_logit`).
EFFECTS: dict[str, float] = {
    "age_u_shape": 0.35,  # x min(((age - 42) / 13)^2, 4)
    "log1p_balance": 0.06,  # x log(1 + max(balance, 0))
    "negative_balance": -0.15,
    "housing": -0.70,
    "loan": -0.45,
    "default": -0.30,
    "log_campaign": -0.30,  # x log(campaign)
}
POUTCOME_EFFECTS: dict[str, float] = {
    "unknown": 0.0,
    "failure": 0.15,
    "other": 0.45,
    "success": 2.3,
}
CONTACT_EFFECTS: dict[str, float] = {"cellular": 0.0, "telephone": -0.10, "unknown": -1.20}
MONTH_EFFECTS: dict[str, float] = {
    "jan": -0.35,
    "feb": 0.15,
    "mar": 1.55,
    "apr": 0.35,
    "may": -0.45,
    "jun": 0.05,
    "jul": -0.30,
    "aug": -0.25,
    "sep": 1.35,
    "oct": 1.35,
    "nov": -0.30,
    "dec": 1.20,
}
JOB_EFFECTS: dict[str, float] = {
    "admin.": 0.05,
    "blue-collar": -0.30,
    "entrepreneur": -0.20,
    "housemaid": -0.15,
    "management": 0.05,
    "self-employed": -0.05,
    "services": -0.15,
    "technician": -0.05,
    "unemployed": 0.20,
    "retired": 0.30,
    "student": 0.40,
}
MARITAL_EFFECTS: dict[str, float] = {"married": 0.0, "single": 0.20, "divorced": 0.05}
EDUCATION_EFFECTS: dict[str, float] = {"primary": -0.15, "secondary": 0.0, "tertiary": 0.20}
# call_duration in seconds ~ round(lognormal(log median, sigma)) given y, clipped to 1..4918.
DURATION: dict[str, dict[str, float]] = {
    "no": {"median": 165.0, "sigma": 0.75},
    "yes": {"median": 450.0, "sigma": 0.55},
}
DURATION_MAX = 4918
# Messiness, per row: the true value is replaced by "unknown", or the row's text fields are
# written in double quotes (as the public file's export does for every row).
MESSINESS_RATES: dict[str, float] = {
    "job_unknown": 0.006,
    "education_unknown": 0.040,
    "quoted_row": 0.010,
}
REFERENCE_ENTROPY = 20_260_201  # fixed population (independent of the user's seed) for the baseline
REFERENCE_ROWS = 200_000


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int | None = None) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix, or `n` draws of one length-k vector."""
    cdf = np.cumsum(probs, axis=-1)
    if cdf.ndim == 1:
        return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(cdf) - 1)
    u = rng.random(cdf.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), cdf.shape[1] - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_job(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Job index into JOBS: retired past ~61, students under ~24, else the working-age shares."""
    n = age.shape[0]
    p_retired = 0.01 + 0.89 * _sigmoid((age - 61.0) / 2.5)
    p_student = 0.60 * _sigmoid((23.0 - age) / 1.5) * (1.0 - p_retired)
    u = rng.random(n)
    working = _categorical(rng, np.array(list(JOB_SHARES.values())), n)
    retired, student = JOBS.index("retired"), JOBS.index("student")
    return np.where(u < p_retired, retired, np.where(u < p_retired + p_student, student, working))


def draw_clients(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Pre-call covariates (clean; category columns as indices into their tuples)."""
    age = np.clip(18 + np.round(rng.gamma(4.7, 4.9, n)), 18, 95).astype(np.int64)
    job = _draw_job(rng, age)
    names = np.asarray(JOBS)[job]
    p_single = 0.12 + 0.60 * _sigmoid((29.0 - age) / 3.0)
    p_divorced = np.where(age >= 30, 0.12, 0.03)
    marital = _categorical(rng, np.stack([1 - p_single - p_divorced, p_single, p_divorced], 1))
    education_table = np.array([EDUCATION_BY_JOB.get(j, DEFAULT_EDUCATION) for j in JOBS])
    education = _categorical(rng, education_table[job])
    risky = np.isin(names, ("blue-collar", "entrepreneur", "unemployed"))
    default = rng.random(n) < np.where(risky, 0.03, 0.012)

    kind = rng.random(n)  # balance: negative, zero or log-normal positive
    negative_share = np.where(default, 0.5, 0.07)
    positive = np.exp(
        np.log(550.0)
        + 0.012 * (age - 40)
        + 0.3 * (education == EDUCATION.index("tertiary"))
        + rng.normal(0.0, 1.25, n)
    )
    overdrawn = -np.exp(rng.normal(np.log(300.0), 1.0, n))
    balance = np.where(kind < negative_share, overdrawn, positive)
    balance = np.where((kind >= negative_share) & (kind < negative_share + 0.08), 0.0, balance)
    balance = np.clip(np.round(balance), -8019, 102_127).astype(np.int64)

    blue = names == "blue-collar"
    not_working = np.isin(names, ("retired", "student"))
    housing_logit = 0.35 - 0.05 * np.maximum(age - 45, 0) + 0.5 * blue - 1.5 * not_working
    housing = rng.random(n) < _sigmoid(housing_logit)
    loan_logit = -1.75 + 0.4 * np.isin(names, ("blue-collar", "entrepreneur", "services"))
    loan = rng.random(n) < _sigmoid(loan_logit - 1.0 * (names == "student") + 0.8 * default)

    month = _categorical(rng, np.array(MONTH_SHARES), n)
    day = 1 + np.floor(rng.random(n) * np.array(DAYS_IN_MONTH)[month]).astype(np.int64)
    p_unknown = np.array([CONTACT_UNKNOWN_BY_MONTH.get(m, CONTACT_UNKNOWN_OTHER) for m in MONTHS])
    p_phone = 0.04 + 0.20 * _sigmoid((age - 60.0) / 5.0)
    u = rng.random(n)
    contact = np.where(u < p_unknown[month], 2, np.where(u < p_unknown[month] + p_phone, 1, 0))
    campaign = np.minimum(1 + rng.negative_binomial(0.8, 0.3, n), 63)

    contacted = rng.random(n) < np.array(PREVIOUS_CONTACT_BY_MONTH)[month]
    pdays = np.clip(np.round(np.exp(rng.normal(np.log(190.0), 0.5, n))), 1, 871).astype(np.int64)
    previous = np.minimum(1 + rng.negative_binomial(1.0, 0.4, n), 275)
    poutcome = _categorical(rng, np.array(PREVIOUS_OUTCOME_SHARES), n)
    return {
        "age": age,
        "job": job,
        "marital": marital,
        "education": education,
        "default": default.astype(np.int64),
        "balance": balance,
        "housing": housing.astype(np.int64),
        "loan": loan.astype(np.int64),
        "contact": contact.astype(np.int64),
        "day": day,
        "month": month,
        "campaign": campaign.astype(np.int64),
        "pdays": np.where(contacted, pdays, -1),
        "previous": np.where(contacted, previous, 0).astype(np.int64),
        "poutcome": np.where(contacted, poutcome, 0),
    }


def _lookup(effects: dict[str, float], names: tuple[str, ...], index: np.ndarray) -> np.ndarray:
    return np.array([effects[name] for name in names])[index]


def yes_logit(cov: dict[str, np.ndarray]) -> np.ndarray:
    """logit p(yes) without the baseline, from the clean pre-call covariates."""
    e = EFFECTS
    age = cov["age"].astype(np.float64)
    balance = cov["balance"].astype(np.float64)
    return (
        e["age_u_shape"] * np.minimum(((age - 42.0) / 13.0) ** 2, 4.0)
        + e["log1p_balance"] * np.log1p(np.maximum(balance, 0.0))
        + e["negative_balance"] * (balance < 0)
        + e["housing"] * cov["housing"]
        + e["loan"] * cov["loan"]
        + e["default"] * cov["default"]
        + e["log_campaign"] * np.log(cov["campaign"])
        + _lookup(POUTCOME_EFFECTS, POUTCOMES, cov["poutcome"])
        + _lookup(CONTACT_EFFECTS, CONTACTS, cov["contact"])
        + _lookup(MONTH_EFFECTS, MONTHS, cov["month"])
        + _lookup(JOB_EFFECTS, JOBS, cov["job"])
        + _lookup(MARITAL_EFFECTS, MARITAL, cov["marital"])
        + _lookup(EDUCATION_EFFECTS, EDUCATION, cov["education"])
    )


def draw_duration(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Call length in seconds, drawn from the outcome (the post-outcome leak)."""
    median = np.where(y == 1, DURATION["yes"]["median"], DURATION["no"]["median"])
    sigma = np.where(y == 1, DURATION["yes"]["sigma"], DURATION["no"]["sigma"])
    seconds = np.round(np.exp(np.log(median) + sigma * rng.normal(0.0, 1.0, y.shape[0])))
    return np.clip(seconds, 1, DURATION_MAX).astype(np.int64)


@dataclass(frozen=True)
class CallDraw:
    """One simulated chunk of calls: covariates as written (with "unknown"s), truth, outcome."""

    cov: dict[str, np.ndarray]  # category indices; -1 marks a value written as "unknown"
    call_duration: np.ndarray
    p_true: np.ndarray
    y: np.ndarray  # int8 0/1
    quoted: np.ndarray  # bool: the row's text fields are written in double quotes

    def messiness(self) -> dict[str, int]:
        """Rows per kind of messiness in this chunk."""
        return {
            "job_unknown": int((self.cov["job"] < 0).sum()),
            "education_unknown": int((self.cov["education"] < 0).sum()),
            "quoted_row": int(self.quoted.sum()),
        }


def simulate_calls(rng: np.random.Generator, n: int, baseline: float) -> CallDraw:
    """Draw the clients, the true p(yes), y, the call duration and the messiness of a chunk."""
    cov = draw_clients(rng, n)
    p_true = _sigmoid(baseline + yes_logit(cov))
    y = (rng.random(n) < p_true).astype(np.int8)
    duration = draw_duration(rng, y)
    rates = MESSINESS_RATES
    cov["job"] = np.where(rng.random(n) < rates["job_unknown"], -1, cov["job"])
    cov["education"] = np.where(rng.random(n) < rates["education_unknown"], -1, cov["education"])
    quoted = rng.random(n) < rates["quoted_row"]
    return CallDraw(cov=cov, call_duration=duration, p_true=p_true, y=y, quoted=quoted)


@lru_cache(maxsize=1)
def reference_logit() -> np.ndarray:
    """logit p(yes) without the baseline on the fixed reference population."""
    rng = np.random.default_rng(np.random.SeedSequence(REFERENCE_ENTROPY))
    return yes_logit(draw_clients(rng, REFERENCE_ROWS))


@lru_cache(maxsize=1)
def baseline() -> float:
    """Baseline solved (Newton) so the reference population's expected rate is TARGET_RATE."""
    logit = reference_logit()
    b = float(np.log(TARGET_RATE / (1 - TARGET_RATE)))
    for _ in range(50):
        p = _sigmoid(b + logit)
        step = float((p.mean() - TARGET_RATE) / (p * (1 - p)).mean())
        b -= step
        if abs(step) < 1e-12:
            break
    return b


def expected_rate() -> float:
    """Model-implied rate of "yes" on the reference population (TARGET_RATE once solved)."""
    return float(_sigmoid(baseline() + reference_logit()).mean())


def parameters() -> dict[str, Any]:
    """Every constant of the data-generating process, plus the solved baseline."""
    out: dict[str, Any] = {
        name.lower(): value for name, value in globals().items() if name.isupper()
    }
    out["baseline_logit"] = baseline()
    return out
