"""The marketing customers' structural model: covariates, confounded assignment, true conversion.

All functions are vectorised over a chunk of customers and take an explicit numpy Generator,
so a chunk is a pure function of its seed. Combination index `k = channel * 7 + platform`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from leakproof.generate import params as P

N_CHANNELS = len(P.CHANNELS)
N_PLATFORMS = len(P.PLATFORMS)
N_COMBOS = N_CHANNELS * N_PLATFORMS
COMBOS: tuple[tuple[str, str], ...] = tuple((c, p) for c in P.CHANNELS for p in P.PLATFORMS)
COMBO_CHANNEL = np.repeat(np.arange(N_CHANNELS), N_PLATFORMS)
COMBO_PLATFORM = np.tile(np.arange(N_PLATFORMS), N_CHANNELS)
# A fixed reference population (independent of the user's seed) for solving the baseline.
REFERENCE_ENTROPY = 20_260_130
REFERENCE_ROWS = 200_000


def truth_column(channel: str, platform: str) -> str:
    """Name of the truth-sidecar column holding p(conversion | customer, channel, platform)."""
    return f"p__{channel}__{platform}"


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function (dtype-preserving)."""
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_inplace(x: np.ndarray) -> np.ndarray:
    """Logistic function overwriting `x` (no temporaries for the (n, 49) matrices)."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)


def _logistic_noise(rng: np.random.Generator, mean: np.ndarray, sd: float) -> np.ndarray:
    return sigmoid(mean + rng.normal(0.0, sd, mean.shape[0]))


def draw_covariates(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Customer covariates with sensible correlations (clean values, no faults).

    Two latent factors drive them: `engagement` (visits, pages, time on site, CTR, e-mail clicks)
    and `loyalty` (purchases, loyalty points, e-mail opens; older customers are more loyal).
    """
    age = rng.integers(18, 70, n)
    gender = (rng.random(n) < 0.48).astype(np.int8)  # 0 Female, 1 Male
    log_income = np.log(50_000.0) + 0.012 * (np.minimum(age, 55) - 35) + rng.normal(0.0, 0.45, n)
    income = np.clip(np.round(np.exp(log_income), -2), 20_000, 150_000).astype(np.int64)
    engagement = rng.normal(0.0, 1.0, n)
    loyalty = 0.25 * (age - 43.5) / 15.0 + rng.normal(0.0, 1.0, n)

    visits = np.minimum(rng.poisson(np.exp(np.log(11.0) + 0.45 * engagement)), 49)
    pages = np.round(1.0 + 9.0 * _logistic_noise(rng, -0.2 + 0.7 * engagement, 0.7), 2)
    time_on_site = np.round(0.5 + 14.5 * _logistic_noise(rng, -0.3 + 0.8 * engagement, 0.7), 2)
    ctr = np.round(0.0101 + 0.2899 * _logistic_noise(rng, -1.0 + 0.5 * engagement, 0.8), 4)
    shares = np.minimum(
        rng.poisson(np.exp(np.log(22.0) + 0.25 * engagement + 0.004 * (45 - age))), 99
    )
    opens = np.minimum(rng.poisson(np.exp(np.log(6.5) + 0.25 * loyalty + 0.15 * engagement)), 19)
    clicks = np.minimum(rng.binomial(opens, sigmoid(-0.9 + 0.5 * engagement)), 9)
    purchases = np.minimum(rng.poisson(np.exp(np.log(3.2) + 0.35 * loyalty)), 9)
    points = np.floor(5000.0 * _logistic_noise(rng, -0.8 + 0.75 * loyalty, 0.7)).astype(np.int64)
    spend = 100.0 + 8900.0 * _logistic_noise(rng, np.full(n, -0.5), 1.1)
    outlier = rng.random(n) < 0.01
    spend = np.where(outlier, 9000.0 * np.exp(rng.uniform(0.0005, np.log(25_000 / 9000), n)), spend)
    campaign_type = rng.integers(0, len(P.CAMPAIGN_TYPES), n).astype(np.int8)
    return {
        "Age": age.astype(np.int64),
        "Gender": gender,
        "Income": income,
        "CampaignType": campaign_type,
        "AdSpend": np.round(spend, 2),
        "ClickThroughRate": ctr,
        "WebsiteVisits": visits.astype(np.int64),
        "PagesPerVisit": pages,
        "TimeOnSite": time_on_site,
        "SocialShares": shares.astype(np.int64),
        "EmailOpens": opens.astype(np.int64),
        "EmailClicks": clicks.astype(np.int64),
        "PreviousPurchases": purchases.astype(np.int64),
        "LoyaltyPoints": points,
    }


def _covariate_transform(cov: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name.startswith("log1p_"):
        return np.log1p(cov[name.removeprefix("log1p_")])
    if name.startswith("log_"):
        return np.log(cov[name.removeprefix("log_")])
    return cov[name].astype(np.float64)


def covariate_logit(cov: dict[str, np.ndarray]) -> np.ndarray:
    """Assignment-independent part of the conversion logit (without the baseline)."""
    out = np.zeros(cov["Age"].shape[0])
    for name, spec in P.COVARIATE_EFFECTS.items():
        z = (_covariate_transform(cov, name) - spec["centre"]) / spec["scale"]
        out += spec["coef"] * z
    type_effects = np.array([P.CAMPAIGN_TYPE_EFFECTS[t] for t in P.CAMPAIGN_TYPES])
    return out + type_effects[cov["CampaignType"]]


def segment_weights(cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Smooth 0..1 segment memberships (high_income, young, older) that carry interactions."""
    out = {}
    for name, step in P.SEGMENT_STEPS.items():
        x = cov[step["variable"]].astype(np.float64)
        out[name] = sigmoid(step["sign"] * (x - step["threshold"]) / step["width"])
    return out


def _effect_vector(terms: dict[str, float]) -> np.ndarray:
    """Map {"channel:..", "platform:..", "combo:c|p": effect} to a length-49 vector."""
    grid = np.zeros((N_CHANNELS, N_PLATFORMS))
    for key, effect in terms.items():
        kind, _, name = key.partition(":")
        if kind == "channel":
            grid[P.CHANNELS.index(name), :] += effect
        elif kind == "platform":
            grid[:, P.PLATFORMS.index(name)] += effect
        else:
            channel, _, platform = name.partition("|")
            grid[P.CHANNELS.index(channel), P.PLATFORMS.index(platform)] += effect
    return grid.ravel()


def combo_logit(
    cov: dict[str, np.ndarray],
    channel_effects: dict[str, float] | None = None,
    platform_effects: dict[str, float] | None = None,
) -> np.ndarray:
    """(n, 49) float32: channel + platform main effects plus segment interactions."""
    channel_effects = channel_effects or P.CHANNEL_EFFECTS
    platform_effects = platform_effects or P.PLATFORM_EFFECTS
    main = (
        np.array([channel_effects[c] for c in P.CHANNELS])[COMBO_CHANNEL]
        + np.array([platform_effects[p] for p in P.PLATFORMS])[COMBO_PLATFORM]
    )
    out = np.broadcast_to(main.astype(np.float32), (cov["Age"].shape[0], N_COMBOS)).copy()
    for segment, weight in segment_weights(cov).items():
        vec = _effect_vector(P.INTERACTIONS.get(segment, {})).astype(np.float32)
        out += weight.astype(np.float32)[:, None] * vec[None, :]
    return out


def assignment_features(cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bounded customer features that drive the historical channel x platform assignment."""
    income = P.COVARIATE_EFFECTS["log_Income"]
    loyalty = P.COVARIATE_EFFECTS["LoyaltyPoints"]
    z_income = (np.log(cov["Income"]) - income["centre"]) / income["scale"]
    z_loyalty = (cov["LoyaltyPoints"] - loyalty["centre"]) / loyalty["scale"]
    return {
        "youth": np.clip((45.0 - cov["Age"]) / 27.0, -1.0, 1.0),
        "income": np.clip(z_income / 2.0, -1.0, 1.0),
        "loyalty": np.clip(z_loyalty / 2.0, -1.0, 1.0),
    }


def _utility_part(features: dict[str, np.ndarray], spec: dict[str, dict[str, float]]) -> np.ndarray:
    names = list(spec)
    out = np.tile(np.array([spec[k]["intercept"] for k in names]), (features["youth"].shape[0], 1))
    for feat, values in features.items():
        out += values[:, None] * np.array([spec[k][feat] for k in names])[None, :]
    return out


def assignment_propensity(cov: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 49) float32 multinomial-logit propensities of the historical assignment.

    Utility(c, p) = channel part + platform part + affinity(c, p), so exp(utility) factorises
    into a product and only 14 exponentials per customer are needed.
    """
    feats = assignment_features(cov)
    channel_w = np.exp(_utility_part(feats, P.ASSIGNMENT_CHANNEL)).astype(np.float32)
    platform_w = np.exp(_utility_part(feats, P.ASSIGNMENT_PLATFORM)).astype(np.float32)
    affinity = np.zeros((N_CHANNELS, N_PLATFORMS))
    for key, value in P.ASSIGNMENT_AFFINITY.items():
        channel, _, platform = key.partition("|")
        affinity[P.CHANNELS.index(channel), P.PLATFORMS.index(platform)] = value
    weight = channel_w[:, :, None] * platform_w[:, None, :]
    weight *= np.exp(affinity).astype(np.float32)[None, :, :]
    weight = weight.reshape(-1, N_COMBOS)
    weight /= weight.sum(axis=1, keepdims=True)
    return weight


def sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix (inverse-CDF, vectorised)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def draw_tools(rng: np.random.Generator, platform: np.ndarray) -> np.ndarray:
    """Advertising tool index: mostly the platform's native tool, some DV360, a little noise."""
    native = np.array([P.TOOLS.index(P.NATIVE_TOOL[p]) for p in P.PLATFORMS])[platform]
    cross = P.TOOLS.index(P.CROSS_PLATFORM_TOOL)
    u = rng.random(platform.shape[0])
    # "other": any tool except the native and the cross-platform one, uniformly
    shift = rng.integers(1, len(P.TOOLS) - 1, platform.shape[0])
    others = [t for t in range(len(P.TOOLS)) if t != cross]
    pos = np.searchsorted(others, native)
    other = np.asarray(others)[(pos + shift) % len(others)]
    tool = np.where(u < P.TOOL_SHARES["native"], native, other)
    return np.where(
        (u >= P.TOOL_SHARES["native"])
        & (u < P.TOOL_SHARES["native"] + P.TOOL_SHARES["cross_platform"]),
        cross,
        tool,
    )


@dataclass(frozen=True)
class CustomerDraw:
    """One simulated chunk of customers: clean covariates, assignment, truth and outcome."""

    cov: dict[str, np.ndarray]
    combo: np.ndarray  # realised channel x platform index (0..48)
    tool: np.ndarray
    p_all: np.ndarray  # (n, 49) float32 true conversion probabilities
    p_realised: np.ndarray
    propensity_realised: np.ndarray
    conversion: np.ndarray  # int8 0/1

    @property
    def channel(self) -> np.ndarray:
        return self.combo // N_PLATFORMS

    @property
    def platform(self) -> np.ndarray:
        return self.combo % N_PLATFORMS


def simulate_customers(rng: np.random.Generator, n: int, baseline: float) -> CustomerDraw:
    """Draw covariates, the confounded assignment, the true probabilities and Conversion."""
    cov = draw_covariates(rng, n)
    p_all = combo_logit(cov)
    p_all += (baseline + covariate_logit(cov)).astype(np.float32)[:, None]
    sigmoid_inplace(p_all)
    propensity = assignment_propensity(cov)
    combo = sample_rows(rng, propensity)
    rows = np.arange(n)
    tool = draw_tools(rng, combo % N_PLATFORMS)
    p_realised = p_all[rows, combo]
    conversion = (rng.random(n) < p_realised).astype(np.int8)
    return CustomerDraw(
        cov=cov,
        combo=combo,
        tool=tool,
        p_all=p_all,
        p_realised=p_realised,
        propensity_realised=propensity[rows, combo],
        conversion=conversion,
    )


@lru_cache(maxsize=1)
def reference_population() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Fixed reference sample: covariates, logits without baseline (n, 49), propensities."""
    rng = np.random.default_rng(np.random.SeedSequence(REFERENCE_ENTROPY))
    cov = draw_covariates(rng, REFERENCE_ROWS)
    logit = combo_logit(cov)
    logit += covariate_logit(cov).astype(np.float32)[:, None]
    return cov, logit, assignment_propensity(cov)


def _combo_sums(offset: np.ndarray, block: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Per combination: sum of propensity * p and of propensity * p * (1 - p) on the reference
    population, with `offset` (length 49) added to every logit. Blockwise to bound memory."""
    _, logit, propensity = reference_population()
    mass, slope = np.zeros(N_COMBOS), np.zeros(N_COMBOS)
    for start in range(0, logit.shape[0], block):
        p = sigmoid(logit[start : start + block].astype(np.float64) + offset)
        weighted = propensity[start : start + block] * p
        mass += weighted.sum(axis=0)
        slope += (weighted * (1.0 - p)).sum(axis=0)
    return mass, slope


def solve_baseline(target: float = P.TARGET_CONVERSION_RATE) -> float:
    """Baseline b such that the expected rate under the historical assignment equals target."""
    n = float(reference_population()[2].sum(dtype=np.float64))
    b = float(np.log(target / (1 - target)))
    for _ in range(50):
        mass, slope = _combo_sums(np.full(N_COMBOS, b))
        step = (mass.sum() / n - target) / (slope.sum() / n)
        b -= float(step)
        if abs(step) < 1e-10:
            break
    return b


@lru_cache(maxsize=1)
def baseline() -> float:
    """The conversion baseline solved on the reference population (expected rate = 1.3 %)."""
    return solve_baseline()


def expected_rates(b: float | None = None) -> dict[str, dict[str, float]]:
    """Model-implied conversion rates under the historical assignment (reference population)."""
    b = baseline() if b is None else b
    mass, _ = _combo_sums(np.full(N_COMBOS, b))
    n = reference_population()[2].sum(axis=0, dtype=np.float64)
    platform_mass = np.bincount(COMBO_PLATFORM, mass)
    platform_n = np.bincount(COMBO_PLATFORM, n)
    tool_mass = tool_probabilities().T @ platform_mass
    tool_n = tool_probabilities().T @ platform_n
    channel = np.bincount(COMBO_CHANNEL, mass) / np.bincount(COMBO_CHANNEL, n)
    return {
        "overall": {"all": float(mass.sum() / n.sum())},
        "channel": dict(zip(P.CHANNELS, map(float, channel), strict=True)),
        "platform": dict(zip(P.PLATFORMS, map(float, platform_mass / platform_n), strict=True)),
        "tool": dict(zip(P.TOOLS, map(float, tool_mass / tool_n), strict=True)),
    }


def main_effects(channel: dict[str, float], platform: dict[str, float]) -> np.ndarray:
    """Length-49 vector of channel + platform main effects."""
    return (
        np.array([channel[c] for c in P.CHANNELS])[COMBO_CHANNEL]
        + np.array([platform[p] for p in P.PLATFORMS])[COMBO_PLATFORM]
    )


def rake_main_effects(
    channel_rates: dict[str, float], platform_rates: dict[str, float], tol: float = 1e-5
) -> tuple[dict[str, float], dict[str, float]]:
    """Channel and platform effects whose expected rates under the historical (confounded)
    assignment equal the given targets (raking on the logit scale); each set has mean zero.

    This is how params.CHANNEL_EFFECTS / PLATFORM_EFFECTS were derived from
    params.DESIGN_CHANNEL_RATES / DESIGN_PLATFORM_RATES (then rounded to 3 decimals).
    """
    current = main_effects(P.CHANNEL_EFFECTS, P.PLATFORM_EFFECTS)
    level = np.log(P.TARGET_CONVERSION_RATE / (1 - P.TARGET_CONVERSION_RATE))
    n = reference_population()[2].sum(axis=0, dtype=np.float64)
    targets = {}
    for key, group, rates in (
        ("channel", COMBO_CHANNEL, [channel_rates[c] for c in P.CHANNELS]),
        ("platform", COMBO_PLATFORM, [platform_rates[p] for p in P.PLATFORMS]),
    ):  # rescale so both sets imply the same overall rate (else raking oscillates)
        share = np.bincount(group, n) / n.sum()
        rates_arr = np.asarray(rates) * P.TARGET_CONVERSION_RATE / float(share @ rates)
        targets[key] = (group, rates_arr)
    effects = {"channel": np.zeros(N_CHANNELS), "platform": np.zeros(N_PLATFORMS)}
    for _ in range(100):
        largest_step = 0.0
        for key, (group, target) in targets.items():
            offset = level - current + effects["channel"][COMBO_CHANNEL]
            offset = offset + effects["platform"][COMBO_PLATFORM]
            mass, _ = _combo_sums(offset)
            rate = np.bincount(group, mass) / np.bincount(group, n)
            step = np.log(target / (1 - target)) - np.log(rate / (1 - rate))
            effects[key] += step
            largest_step = max(largest_step, float(np.abs(step).max()))
        if largest_step < tol:
            break
    channel = effects["channel"] - effects["channel"].mean()
    platform = effects["platform"] - effects["platform"].mean()
    return (
        dict(zip(P.CHANNELS, map(float, channel), strict=True)),
        dict(zip(P.PLATFORMS, map(float, platform), strict=True)),
    )


def tool_probabilities() -> np.ndarray:
    """(7 platforms, 6 tools) probabilities of the tool given the platform."""
    out = np.zeros((N_PLATFORMS, len(P.TOOLS)))
    cross = P.TOOLS.index(P.CROSS_PLATFORM_TOOL)
    for i, platform in enumerate(P.PLATFORMS):
        native = P.TOOLS.index(P.NATIVE_TOOL[platform])
        others = [t for t in range(len(P.TOOLS)) if t not in (native, cross)]
        out[i, others] = P.TOOL_SHARES["other"] / len(others)
        out[i, native] = P.TOOL_SHARES["native"]
        out[i, cross] = P.TOOL_SHARES["cross_platform"]
    return out
