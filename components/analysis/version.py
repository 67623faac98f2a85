"""The estimator's version, importable without the planner (and numpy)."""

ESTIMATOR_VERSION = "v1.0.0"
