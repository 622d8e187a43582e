"""The randomised e-mail test's structural model: 4 subject lines x 3 send times = 12 arms.

Each recipient's subject line and send time are drawn uniformly and independently of each other
and of everything about the recipient (from a random stream of their own), so every arm's true
propensity is exactly 1/12. The click probability of every arm is known for every recipient:
`logit p = baseline + covariate effects + arm main effects + segment x arm interactions`, so
which arm is best depends on the recipient. Constants live here (not in params.py, whose every
constant the demo's truth.json repeats); `parameters()` returns them for the truth file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

SUBJECT_LINES: tuple[str, ...] = ("discount", "free_shipping", "personalised", "question")
SEND_TIMES: tuple[str, ...] = ("morning", "afternoon", "evening")
ARMS: tuple[tuple[str, str], ...] = tuple((s, t) for s in SUBJECT_LINES for t in SEND_TIMES)
N_ARMS = len(ARMS)
ARM_SUBJECT = np.repeat(np.arange(len(SUBJECT_LINES)), len(SEND_TIMES))
ARM_SEND_TIME = np.tile(np.arange(len(SEND_TIMES)), len(SUBJECT_LINES))
PROPENSITY = 1.0 / N_ARMS
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west")
REGION_SHARES: tuple[float, ...] = (0.30, 0.25, 0.25, 0.20)
COLUMNS: tuple[str, ...] = (
    "recipient_id",
    "age",
    "tenure_months",
    "past_opens",
    "past_purchases",
    "device",
    "region",
    "subject_line",
    "send_time",
    "clicked",
)
TARGET = "clicked"
TREATMENTS: tuple[str, ...] = ("subject_line", "send_time")

TARGET_RATE = 0.05  # expected click rate under the uniform random assignment
# Standardised covariate effects: coef x (value - centre) / scale.
COVARIATE_EFFECTS: dict[str, dict[str, float]] = {
    "past_opens": {"coef": 0.55, "centre": 3.5, "scale": 2.5},
    "past_purchases": {"coef": 0.20, "centre": 1.5, "scale": 1.5},
    "log1p_tenure_months": {"coef": -0.10, "centre": 3.0, "scale": 1.0},
    "age": {"coef": -0.10, "centre": 42.0, "scale": 13.0},
}
DEVICE_EFFECTS: dict[str, float] = {"mobile": 0.10, "desktop": 0.0, "tablet": -0.10}
REGION_EFFECTS: dict[str, float] = {"north": 0.0, "south": 0.05, "east": -0.05, "west": 0.0}
SUBJECT_EFFECTS: dict[str, float] = {
    "discount": 0.15,
    "free_shipping": 0.05,
    "personalised": 0.0,
    "question": -0.10,
}
SEND_TIME_EFFECTS: dict[str, float] = {"morning": 0.0, "afternoon": -0.10, "evening": 0.05}
# Segment memberships (0..1) that carry the heterogeneous arm effects.
SEGMENT_STEPS: dict[str, dict[str, Any]] = {
    "young": {"variable": "age", "threshold": 30.0, "width": 2.0, "sign": -1.0},
    "loyal": {"variable": "past_purchases", "threshold": 2.5, "width": 0.4, "sign": 1.0},
    "mobile": {"variable": "device", "equals": "mobile"},
    "desktop": {"variable": "device", "equals": "desktop"},
}
INTERACTIONS: dict[str, dict[str, float]] = {
    "young": {"subject:question": 0.70, "subject:discount": -0.20},
    "loyal": {"subject:personalised": 0.65, "subject:discount": -0.30},
    "mobile": {"send_time:evening": 0.40, "send_time:morning": -0.20},
    "desktop": {"send_time:morning": 0.45, "send_time:evening": -0.25},
}
# A partition of the recipients used to report each segment's best arm in truth.json.
REPORT_SEGMENTS: tuple[str, ...] = (
    "age < 30, mobile",
    "age < 30, desktop",
    "age >= 30, past_purchases >= 3, mobile",
    "age >= 30, past_purchases >= 3, desktop",
    "age >= 30, past_purchases < 3, mobile",
    "age >= 30, past_purchases < 3, desktop",
    "tablet",
)
REFERENCE_ENTROPY = 20_260_202  # fixed population (independent of the user's seed) for the baseline
REFERENCE_ROWS = 200_000


def truth_column(subject_line: str, send_time: str) -> str:
    """Name of the truth-sidecar column holding p(click | recipient, subject line, send time)."""
    return f"p__{subject_line}__{send_time}"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(cdf.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), cdf.shape[1] - 1)


def draw_recipients(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Recipient covariates (device and region as indices into DEVICES and REGIONS)."""
    age = np.clip(np.round(rng.normal(42.0, 13.0, n)), 18, 80).astype(np.int64)
    tenure = np.minimum(np.floor(rng.exponential(28.0, n)), 180).astype(np.int64)
    engagement = rng.normal(0.0, 1.0, n)
    opens = rng.binomial(10, _sigmoid(-0.6 + 0.9 * engagement + 0.004 * tenure))
    purchases = np.minimum(
        rng.poisson(np.exp(np.log(1.0) + 0.35 * engagement + 0.008 * tenure)), 30
    )
    mobile = 0.40 + 0.35 * _sigmoid((35.0 - age) / 6.0)
    tablet = np.full(n, 0.10)
    device = _categorical(rng, np.stack([mobile, 1.0 - mobile - tablet, tablet], axis=1))
    region = _categorical(rng, np.broadcast_to(np.array(REGION_SHARES), (n, len(REGIONS))))
    return {
        "age": age,
        "tenure_months": tenure,
        "past_opens": opens.astype(np.int64),
        "past_purchases": purchases.astype(np.int64),
        "device": device,
        "region": region,
    }


def segment_weights(cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Smooth (age, purchases) or exact (device) 0..1 segment memberships."""
    out = {}
    for name, step in SEGMENT_STEPS.items():
        if "equals" in step:
            out[name] = (cov[step["variable"]] == DEVICES.index(step["equals"])).astype(float)
        else:
            x = cov[step["variable"]].astype(np.float64)
            out[name] = _sigmoid(step["sign"] * (x - step["threshold"]) / step["width"])
    return out


def report_segments(cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Boolean masks of REPORT_SEGMENTS (every recipient in exactly one)."""
    young, loyal = cov["age"] < 30, cov["past_purchases"] >= 3
    mobile = cov["device"] == DEVICES.index("mobile")
    desktop = cov["device"] == DEVICES.index("desktop")
    masks = (
        young & mobile,
        young & desktop,
        ~young & loyal & mobile,
        ~young & loyal & desktop,
        ~young & ~loyal & mobile,
        ~young & ~loyal & desktop,
        cov["device"] == DEVICES.index("tablet"),
    )
    return dict(zip(REPORT_SEGMENTS, masks, strict=True))


def _arm_vector(terms: dict[str, float]) -> np.ndarray:
    """Map {"subject:..", "send_time:..": effect} to a length-12 vector over ARMS."""
    out = np.zeros(N_ARMS)
    for key, effect in terms.items():
        kind, _, name = key.partition(":")
        if kind == "subject":
            out += effect * np.equal(ARM_SUBJECT, SUBJECT_LINES.index(name))
        else:
            out += effect * np.equal(ARM_SEND_TIME, SEND_TIMES.index(name))
    return out


def covariate_logit(cov: dict[str, np.ndarray]) -> np.ndarray:
    """Arm-independent part of the click logit (without the baseline)."""
    out = np.zeros(cov["age"].shape[0])
    for name, spec in COVARIATE_EFFECTS.items():
        x = np.log1p(cov[name.removeprefix("log1p_")]) if name.startswith("log1p_") else cov[name]
        out += spec["coef"] * (x - spec["centre"]) / spec["scale"]
    out += np.array([DEVICE_EFFECTS[d] for d in DEVICES])[cov["device"]]
    return out + np.array([REGION_EFFECTS[r] for r in REGIONS])[cov["region"]]


def arm_logit(cov: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 12) logits without the baseline: covariates + arm main effects + interactions."""
    main = np.array([SUBJECT_EFFECTS[s] + SEND_TIME_EFFECTS[t] for s, t in ARMS])
    out = covariate_logit(cov)[:, None] + main[None, :]
    for segment, weight in segment_weights(cov).items():
        out += weight[:, None] * _arm_vector(INTERACTIONS.get(segment, {}))[None, :]
    return out


@dataclass(frozen=True)
class EmailDraw:
    """One simulated chunk: covariates, the randomised arm, every arm's true p, the click."""

    cov: dict[str, np.ndarray]
    arm: np.ndarray  # index into ARMS
    p_all: np.ndarray  # (n, 12) true click probabilities
    clicked: np.ndarray  # int8 0/1

    @property
    def subject_line(self) -> np.ndarray:
        return ARM_SUBJECT[self.arm]

    @property
    def send_time(self) -> np.ndarray:
        return ARM_SEND_TIME[self.arm]

    @property
    def p_realised(self) -> np.ndarray:
        return self.p_all[np.arange(self.arm.shape[0]), self.arm]


def simulate_recipients(
    rng: np.random.Generator, assignment: np.random.Generator, n: int, baseline: float
) -> EmailDraw:
    """Draw covariates (from `rng`), the two treatments (from `assignment` alone), the clicks."""
    cov = draw_recipients(rng, n)
    subject = assignment.integers(0, len(SUBJECT_LINES), n)
    send_time = assignment.integers(0, len(SEND_TIMES), n)
    arm = subject * len(SEND_TIMES) + send_time
    p_all = _sigmoid(baseline + arm_logit(cov))
    clicked = (rng.random(n) < p_all[np.arange(n), arm]).astype(np.int8)
    return EmailDraw(cov=cov, arm=arm, p_all=p_all, clicked=clicked)


def arm_label(arm: int) -> str:
    """`<subject_line>__<send_time>` of arm index `arm` (the truth column without `p__`)."""
    subject, send_time = ARMS[arm]
    return f"{subject}__{send_time}"


class ArmTally:
    """Running per-arm counts and true-probability sums (overall and by report segment)."""

    def __init__(self) -> None:
        self.rows = 0
        self.assigned = np.zeros(N_ARMS, np.int64)
        self.clicks = np.zeros(N_ARMS, np.int64)
        self.p_sum = np.zeros(N_ARMS)
        self.best_sum = 0.0
        self.segment_rows = np.zeros(len(REPORT_SEGMENTS), np.int64)
        self.segment_p_sum = np.zeros((len(REPORT_SEGMENTS), N_ARMS))

    def add(self, draw: EmailDraw) -> None:
        self.rows += draw.arm.shape[0]
        self.assigned += np.bincount(draw.arm, minlength=N_ARMS)
        self.clicks += np.bincount(draw.arm, weights=draw.clicked, minlength=N_ARMS).astype(int)
        self.p_sum += draw.p_all.sum(axis=0)
        self.best_sum += float(draw.p_all.max(axis=1).sum())
        for i, mask in enumerate(report_segments(draw.cov).values()):
            self.segment_rows[i] += int(mask.sum())
            self.segment_p_sum[i] += draw.p_all[mask].sum(axis=0)

    def summary(self) -> dict[str, Any]:
        labels = [arm_label(a) for a in range(N_ARMS)]
        true_rate = self.p_sum / self.rows
        best = int(np.argmax(true_rate))
        by_segment = {}
        for i, segment in enumerate(REPORT_SEGMENTS):
            n = int(self.segment_rows[i])
            rates = self.segment_p_sum[i] / max(n, 1)
            arm = int(np.argmax(rates))
            by_segment[segment] = {
                "rows": n,
                "best_arm": labels[arm] if n else None,
                "best_arm_rate": float(rates[arm]) if n else None,
            }
        return {
            "click_rate": float(self.clicks.sum() / self.rows),
            "arm_share": dict(zip(labels, (self.assigned / self.rows).tolist(), strict=True)),
            "arm_click_rate": {
                label: float(c / n) if n else None
                for label, c, n in zip(labels, self.clicks, self.assigned, strict=True)
            },
            "arm_rate_true": dict(zip(labels, true_rate.tolist(), strict=True)),
            "best_arm": {
                "subject_line": ARMS[best][0],
                "send_time": ARMS[best][1],
                "truth_column": truth_column(*ARMS[best]),
                "rate": float(true_rate[best]),
            },
            "uniform_policy_value": float(true_rate.mean()),
            "best_arm_policy_value": self.best_sum / self.rows,
            "best_arm_by_segment": by_segment,
        }


@lru_cache(maxsize=1)
def reference_logit() -> np.ndarray:
    """(n, 12) logits without the baseline on the fixed reference population."""
    rng = np.random.default_rng(np.random.SeedSequence(REFERENCE_ENTROPY))
    return arm_logit(draw_recipients(rng, REFERENCE_ROWS))


@lru_cache(maxsize=1)
def baseline() -> float:
    """Baseline solved (Newton) so the expected rate under uniform assignment is TARGET_RATE."""
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
    """Model-implied click rate under uniform assignment on the reference population."""
    return float(_sigmoid(baseline() + reference_logit()).mean())


def parameters() -> dict[str, Any]:
    """Every constant of the data-generating process, plus the solved baseline."""
    out: dict[str, Any] = {
        name.lower(): value.tolist() if isinstance(value, np.ndarray) else value
        for name, value in globals().items()
        if name.isupper()
    }
    out["baseline_logit"] = baseline()
    return out
