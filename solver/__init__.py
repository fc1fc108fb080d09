"""Trilemma: the cheapest LLM serving deployment that meets latency SLOs, proven optimal with CP-SAT."""

__version__ = "0.1.0"
