"""Unit constants, one definition each.

A month is 730 h = 8760 h / 12, the figure cloud price lists use to turn hourly prices into monthly
ones.
"""

SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760
"""365 days (an int: it also bounds a validated field); amortisation and the longest traffic horizon use it."""
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0
"""730 h."""
BYTES_PER_GB = 1e9
"""Catalog GB are decimal (1e9 bytes), as on spec sheets."""
BF16_BYTES = 2.0
"""Bytes of one bf16/fp16 value: activations, embeddings, the LM head and collectives travel in bf16."""
FP32_BYTES = 4.0
"""Bytes of one fp32 value (logits)."""
