"""leakproof: honest conversion and propensity models on dbt + DuckDB.

The package holds every piece of logic; dbt Python models are thin shims over it.
"""

__version__ = "0.1.0"
