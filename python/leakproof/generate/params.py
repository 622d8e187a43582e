"""Structural parameters of the synthetic data-generating process (constants, no logic).

Everything a reader needs to know about the demo data lives here: category lists, covariate
effects, channel and platform effects, the confounded assignment model, the B2B response model,
and the fault rates and spellings. `truth.json` records these values with every generated dataset.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Marketing customers: categories (exact spellings of the public "digital marketing" schema)
# ---------------------------------------------------------------------------------------------
CHANNELS: tuple[str, ...] = (
    "Email",
    "PPC",
    "Referral",
    "SEO",
    "Social Media",
    "Display",
    "Affiliate",
)
PLATFORMS: tuple[str, ...] = (
    "Facebook",
    "Instagram",
    "LinkedIn",
    "YouTube",
    "Google Search",
    "TikTok",
    "X",
)
TOOLS: tuple[str, ...] = (
    "Google Ads",
    "Meta Ads Manager",
    "LinkedIn Campaign Manager",
    "TikTok Ads Manager",
    "X Ads",
    "DV360",
)
CAMPAIGN_TYPES: tuple[str, ...] = ("Awareness", "Consideration", "Conversion", "Retention")
GENDERS: tuple[str, ...] = ("Female", "Male")

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "CustomerID",
    "Age",
    "Gender",
    "Income",
    "CampaignChannel",
    "CampaignType",
    "AdSpend",
    "ClickThroughRate",
    "ConversionRate",
    "WebsiteVisits",
    "PagesPerVisit",
    "TimeOnSite",
    "SocialShares",
    "EmailOpens",
    "EmailClicks",
    "PreviousPurchases",
    "LoyaltyPoints",
    "AdvertisingPlatform",
    "AdvertisingTool",
    "Conversion",
)
SCORING_COLUMNS: tuple[str, ...] = tuple(
    c for c in CUSTOMER_COLUMNS if c not in ("Conversion", "ConversionRate")
)

# ---------------------------------------------------------------------------------------------
# Conversion model: logit p = baseline + covariate terms + channel + platform + interactions
# ---------------------------------------------------------------------------------------------
TARGET_CONVERSION_RATE = 0.013
# Each covariate enters as coef * (transform(x) - centre) / scale; the baseline is solved.
COVARIATE_EFFECTS: dict[str, dict[str, float]] = {
    "TimeOnSite": {"coef": 0.27, "centre": 6.9, "scale": 3.1},
    "log1p_WebsiteVisits": {"coef": 0.225, "centre": 2.45, "scale": 0.52},
    "ClickThroughRate": {"coef": 0.18, "centre": 0.097, "scale": 0.05},
    "PagesPerVisit": {"coef": 0.09, "centre": 5.1, "scale": 1.85},
    "EmailClicks": {"coef": 0.18, "centre": 2.1, "scale": 1.85},
    "PreviousPurchases": {"coef": 0.225, "centre": 3.4, "scale": 2.1},
    "LoyaltyPoints": {"coef": 0.18, "centre": 1700.0, "scale": 1000.0},
    "log_Income": {"coef": 0.09, "centre": 10.9, "scale": 0.46},
    "log_AdSpend": {"coef": 0.045, "centre": 8.05, "scale": 0.66},
}
CAMPAIGN_TYPE_EFFECTS: dict[str, float] = {
    "Awareness": -0.15,
    "Consideration": 0.0,
    "Conversion": 0.15,
    "Retention": 0.05,
}
# Designed expected conversion rates under the historical (confounded) assignment. The seed
# reports Referral 1.49 % best / SEO 1.04 % worst, Facebook 1.44 % vs YouTube 0.92 %, Google Ads
# 1.39 % vs Meta Ads Manager 1.14 %; the best/worst channel gaps are widened a little so the
# orderings survive the ~0.14 pp sampling noise of 48,000 rows more often (docs/generator.md).
# Google Search and Instagram follow from the tool targets (Google Ads = Google Search + YouTube,
# Meta Ads Manager = Facebook + Instagram); the rest fill the 1.3 % overall rate.
DESIGN_CHANNEL_RATES: dict[str, float] = {
    "Email": 0.0132,
    "PPC": 0.0131,
    "Referral": 0.0164,
    "SEO": 0.0098,
    "Social Media": 0.0130,
    "Display": 0.0131,
    "Affiliate": 0.0131,
}
DESIGN_PLATFORM_RATES: dict[str, float] = {
    "Facebook": 0.0146,
    "Instagram": 0.0083,
    "LinkedIn": 0.01418,
    "YouTube": 0.0090,
    "Google Search": 0.01619,
    "TikTok": 0.01278,
    "X": 0.01358,
}
# Main effects (logit scale) raked from the design rates by customers.rake_main_effects().
CHANNEL_EFFECTS: dict[str, float] = {
    "Email": -0.013,
    "PPC": 0.055,
    "Referral": 0.23,
    "SEO": -0.252,
    "Social Media": -0.069,
    "Display": -0.055,
    "Affiliate": 0.102,
}
PLATFORM_EFFECTS: dict[str, float] = {
    "Facebook": 0.219,
    "Instagram": -0.734,
    "LinkedIn": 0.032,
    "YouTube": -0.252,
    "Google Search": 0.366,
    "TikTok": 0.217,
    "X": 0.151,
}

# Heterogeneous effects. Segment weights are smooth steps:
#   high_income = sigmoid((Income - 80000) / 2500), young = sigmoid((30 - Age) / 0.5),
#   older = sigmoid((Age - 50) / 4).
SEGMENT_STEPS: dict[str, dict[str, float]] = {
    "high_income": {"variable": "Income", "threshold": 80_000.0, "width": 2_500.0, "sign": 1.0},
    "young": {"variable": "Age", "threshold": 30.0, "width": 0.5, "sign": -1.0},
    "older": {"variable": "Age", "threshold": 50.0, "width": 4.0, "sign": 1.0},
}
INTERACTIONS: dict[str, dict[str, float]] = {
    # segment -> {"channel:<name>" | "platform:<name>" | "combo:<channel>|<platform>": effect}
    "high_income": {
        "channel:Display": 0.30,
        "platform:LinkedIn": 0.30,
        "combo:Display|LinkedIn": 0.20,
    },
    "young": {
        "channel:Social Media": 0.40,
        "platform:Instagram": 1.10,
        "combo:Social Media|Instagram": 0.35,
    },
    "older": {
        "platform:Instagram": -1.00,
        "platform:TikTok": -0.35,
        "channel:Social Media": -0.20,
    },
}

# ---------------------------------------------------------------------------------------------
# Historical assignment: multinomial logit over the 49 channel x platform combinations.
# utility = channel intercept + platform intercept + sum(coef * feature) + affinity
# features (bounded): youth = clip((45 - Age) / 27, -1, 1), income = clip(z_log_income / 2, -1, 1),
#                     loyalty = clip(z_loyalty / 2, -1, 1)
# ---------------------------------------------------------------------------------------------
ASSIGNMENT_CHANNEL: dict[str, dict[str, float]] = {
    "Email": {"intercept": 0.1, "youth": -0.3, "income": 0.4, "loyalty": 0.5},
    "PPC": {"intercept": 0.0, "youth": 0.0, "income": 0.0, "loyalty": 0.0},
    "Referral": {"intercept": 0.0, "youth": 0.0, "income": 0.0, "loyalty": 0.6},
    "SEO": {"intercept": 0.0, "youth": 0.2, "income": 0.0, "loyalty": 0.0},
    "Social Media": {"intercept": -0.2, "youth": 0.8, "income": 0.0, "loyalty": 0.0},
    "Display": {"intercept": 0.0, "youth": -0.2, "income": 0.6, "loyalty": 0.0},
    "Affiliate": {"intercept": 0.0, "youth": 0.1, "income": 0.0, "loyalty": 0.0},
}
ASSIGNMENT_PLATFORM: dict[str, dict[str, float]] = {
    "Facebook": {"intercept": 0.0, "youth": -0.4, "income": 0.0, "loyalty": 0.0},
    "Instagram": {"intercept": 0.1, "youth": 0.6, "income": 0.0, "loyalty": 0.0},
    "LinkedIn": {"intercept": 0.0, "youth": -0.1, "income": 0.6, "loyalty": 0.0},
    "YouTube": {"intercept": -0.4, "youth": 0.3, "income": 0.0, "loyalty": 0.0},
    "Google Search": {"intercept": 0.3, "youth": 0.0, "income": 0.2, "loyalty": 0.0},
    "TikTok": {"intercept": -0.3, "youth": 0.8, "income": 0.0, "loyalty": 0.0},
    "X": {"intercept": -0.1, "youth": 0.0, "income": 0.2, "loyalty": 0.0},
}
ASSIGNMENT_AFFINITY: dict[str, float] = {
    "Social Media|Facebook": 0.5,
    "Social Media|Instagram": 0.4,
    "Social Media|TikTok": 0.4,
    "Social Media|X": 0.5,
    "PPC|Google Search": 0.6,
    "SEO|Google Search": 0.8,
    "Display|YouTube": 0.5,
}
# Tool given platform: the platform's native tool, the cross-platform tool, or (noise) another.
NATIVE_TOOL: dict[str, str] = {
    "Facebook": "Meta Ads Manager",
    "Instagram": "Meta Ads Manager",
    "LinkedIn": "LinkedIn Campaign Manager",
    "YouTube": "Google Ads",
    "Google Search": "Google Ads",
    "TikTok": "TikTok Ads Manager",
    "X": "X Ads",
}
CROSS_PLATFORM_TOOL = "DV360"
TOOL_SHARES: dict[str, float] = {"native": 0.82, "cross_platform": 0.14, "other": 0.04}

# ---------------------------------------------------------------------------------------------
# B2B accounts: waves, population, response model
# ---------------------------------------------------------------------------------------------
N_WAVES = 6
WAVE_DATES: tuple[str, ...] = (
    "2025-01-01",
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-01",
    "2025-06-01",
)
MONTHS_BETWEEN_WAVES = 1
RECURRING_SHARE = 0.35  # share of a wave's rows that are accounts already seen in earlier waves
TARGET_RESPONSE_RATE = 0.196  # on the labelled waves 1..5

# Industry and region names are the accepted values use_cases/b2b.yml declares.
INDUSTRIES: dict[str, dict[str, float]] = {
    # share in the stable population, drift tilt (logit, times drift_shift), log-size offset,
    # median revenue per employee (USD), response effect (logit)
    "Software": {"share": 0.20, "tilt": 0.6, "size": 0.0, "rpe": 250_000, "effect": 0.10},
    "Financial Services": {"share": 0.14, "tilt": 0.4, "size": 0.3, "rpe": 350_000, "effect": 0.05},
    "Healthcare": {"share": 0.13, "tilt": 0.0, "size": 0.2, "rpe": 150_000, "effect": 0.0},
    "Manufacturing": {"share": 0.17, "tilt": -0.3, "size": 0.3, "rpe": 200_000, "effect": -0.05},
    "Retail": {"share": 0.11, "tilt": -0.4, "size": 0.0, "rpe": 120_000, "effect": -0.10},
    "Education": {"share": 0.07, "tilt": -0.5, "size": 0.1, "rpe": 90_000, "effect": -0.15},
    "Logistics": {"share": 0.10, "tilt": -0.2, "size": 0.2, "rpe": 160_000, "effect": -0.05},
    "Media": {"share": 0.08, "tilt": 0.1, "size": -0.3, "rpe": 200_000, "effect": 0.05},
}
REGIONS: dict[str, float] = {
    "North America": 0.42,
    "EMEA": 0.33,
    "APAC": 0.17,
    "LATAM": 0.08,
}
ACCOUNT_POPULATION: dict[str, float] = {
    "log_size_mean": 5.63,  # median ~280 employees
    "log_size_sd": 1.1,
    "log_rpe_sd": 0.45,
    "log_visit_rate_mean": 1.19,  # median ~3.3 visits per 30 days
    "log_visit_rate_sd": 0.6,
}
CONTRACT_TERMS: dict[int, float] = {12: 0.5, 24: 0.3, 36: 0.2}
# What --drift-shift 1.0 does to the newest wave: log-size shift, visit-rate multiplier growth.
DRIFT_PER_UNIT: dict[str, float] = {"log_size": 1.1, "visit_rate": 1.0}
DEFAULT_DRIFT_SHIFT = 1.0
# logit p(response) = baseline + sum(effect * term); the baseline is solved for 19.6 %. The seed's
# business rules (renewal window, >= 5 visits, >= 800 employees, revenue per employee) raise the
# odds; their cold counterparts lower them. Calibrated so an oracle's top 20 % responds at ~27 %.
RESPONSE_EFFECTS: dict[str, float] = {
    "renewal_window": 0.23,  # contract_remaining_months <= 3
    "long_contract": -0.40,  # contract_remaining_months >= 12
    "high_engagement": 0.10,  # website_visits_30d >= 5
    "low_engagement": -0.66,  # website_visits_30d <= 1
    "large_account": 0.11,  # company_size >= 800
    "small_account": -0.36,  # company_size < 60
    "revenue_per_employee": 0.05,  # (log(annual_revenue / company_size) - 12.2) / 0.6
}

# ---------------------------------------------------------------------------------------------
# Injected faults (per clean row; a row carries at most one of the row-level faults)
# ---------------------------------------------------------------------------------------------
MISSING_RATES: dict[str, float] = {"ClickThroughRate": 0.05, "PagesPerVisit": 0.05}
FAULT_RATES: dict[str, float] = {
    "miscased_or_padded": 0.010,
    "misspelled": 0.003,
    "unparseable_number": 0.001,
    "negative_adspend": 0.001,
    "impossible_age": 0.001,
    "ctr_above_one": 0.001,
}
DUPLICATE_RATE = 0.005  # exact copies (CustomerID included), placed a little later in the file
# CRM exports are messier: a higher unparseable rate, so even small B2B samples carry some.
ACCOUNT_FAULT_RATES: dict[str, float] = {"miscased_or_padded": 0.010, "unparseable_number": 0.003}
CASE_FAULT_COLUMNS: tuple[str, ...] = (
    "Gender",
    "CampaignChannel",
    "CampaignType",
    "AdvertisingPlatform",
    "AdvertisingTool",
)
ACCOUNT_CASE_FAULT_COLUMNS: tuple[str, ...] = ("industry", "region")
UNPARSEABLE_COLUMNS: tuple[str, ...] = ("AdSpend", "Income", "TimeOnSite")
ACCOUNT_UNPARSEABLE_COLUMNS: tuple[str, ...] = ("annual_revenue",)
# Tokens written instead of a number; "<comma>" writes the value with a comma separator
# ("4512,37" for decimals, "54,000" for whole numbers).
UNPARSEABLE_TOKENS: tuple[str, ...] = ("n/a", "abc", "#VALUE!", "-", "<comma>")
IMPOSSIBLE_AGES: tuple[int, ...] = (0, -3, 150, 999)
# The fixed list of misspellings (the dbt staging layer maps them back with a seed).
MISSPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "CampaignChannel": {
        "Email": ("E-mail",),
        "PPC": ("P.P.C.",),
        "Referral": ("Refferal", "Referal"),
        "SEO": ("S.E.O.",),
        "Social Media": ("Social-Media", "SocialMedia"),
        "Display": ("Dispaly",),
        "Affiliate": ("Afiliate", "Affiliates"),
    },
    "AdvertisingPlatform": {
        "Facebook": ("Facebok", "Face book"),
        "Instagram": ("Instagramm",),
        "LinkedIn": ("Linkedin", "Linked In"),
        "YouTube": ("Youtube", "You Tube"),
        "Google Search": ("Google search", "GoogleSearch"),
        "TikTok": ("Tiktok", "Tik Tok"),
        "X": ("Twitter",),
    },
    "AdvertisingTool": {
        "Google Ads": ("Google ads", "GoogleAds"),
        "Meta Ads Manager": ("Meta Ads Manger",),
        "LinkedIn Campaign Manager": ("Linkedin Campaign Manager",),
        "TikTok Ads Manager": ("Tiktok Ads Manager",),
        "X Ads": ("Twitter Ads",),
        "DV360": ("DV 360",),
    },
}
