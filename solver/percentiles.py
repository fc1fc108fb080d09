"""The SLO percentile vocabulary shared by the problem file and every command line (a module of its own
so that the CLI can check `--percentile` without importing the problem schema)."""

MEAN = "mean"
"""`percentile: mean`: the SLOs bound the mean of each latency's distribution, not a percentile."""
PERCENTILE_MIN, PERCENTILE_MAX = 50.0, 99.9
"""Allowed SLO percentiles (in the problem file and on every command line)."""
