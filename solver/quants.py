"""Quantization vocabulary: the weight and KV-cache formats the catalogs and the CLI name (a module of
its own so that command-line checks need not import the catalog schema)."""

WEIGHT_QUANTS: tuple[str, ...] = ("bf16", "fp16", "fp8", "int8", "int4", "fp4", "mxfp4")
KV_QUANTS: tuple[str, ...] = ("bf16", "fp16", "fp8")
