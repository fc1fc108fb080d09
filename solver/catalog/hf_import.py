"""A `models.yaml` entry from a Hugging Face `config.json` (no network).

One function per concern: reading the JSON, typed access to its keys (a number written as text,
`"num_attention_heads": "64"`, is reported with its key and expected type), identity and naming,
FFN widths, local attention (sliding windows, chunked attention), mixture of experts, MLA ranks,
and the checkpoint's datatype. `model_entry_from_hf_config` composes them and validates the result
against the catalog's `Model` schema.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from solver.catalog.schema import Model
from solver.errors import CatalogError, Issue
from solver.yamlio import validation_issues

DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "bf16", "float": "bf16"}
"""config.json `torch_dtype` -> the catalog's native dtype (fp32 checkpoints are served as bf16)."""
QUANT_METHODS = {"fp8": "fp8", "mxfp4": "mxfp4"}
"""`quantization_config.quant_method` values whose checkpoints the catalog can describe."""


def read_json_object(path: Path) -> dict[str, Any]:
    """The top-level JSON object of `path`; CatalogError with the file and position otherwise."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError([Issue(file, "", f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CatalogError([Issue(file, "", "not a UTF-8 text file (is it binary?)")]) from None
    except json.JSONDecodeError as exc:
        raise CatalogError([Issue(file, f"line {exc.lineno}, column {exc.colno}",
                                  f"malformed JSON: {exc.msg}")]) from None
    except RecursionError:
        raise CatalogError([Issue(file, "", "malformed JSON: nested too deeply")]) from None
    if not isinstance(data, dict):
        raise CatalogError([Issue(file, "", f"top level must be a JSON object, got {type(data).__name__}")])
    return data


class _Config:
    """Typed reads of a config (merged with its `text_config`), collecting issues instead of raising."""

    def __init__(self, config: dict[str, Any], file: str):
        text = config.get("text_config")
        self.values: dict[str, Any] = {**config, **text} if isinstance(text, dict) else dict(config)
        self.where = "text_config." if isinstance(text, dict) else ""
        self.file = file
        self.issues: list[Issue] = []
        self.notes: list[str] = []
        self.model_type = str(self.values.get("model_type") or config.get("model_type") or "")

    def issue(self, key: str, message: str) -> None:
        self.issues.append(Issue(self.file, f"{self.where}{key}", message))

    def int(self, key: str, required: bool = False) -> int | None:
        """A whole number (JSON `64`; `64.0` is accepted, `"64"`, `true` and `64.5` are not)."""
        value = self.values.get(key)
        if value is None:
            if required:
                self.issue(key, "required key is missing from the config")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value != int(value):
            self.issue(key, f"expected a whole number, got {value!r} ({type(value).__name__})")
            return None
        return int(value)

    def first_int(self, *keys: str) -> int | None:
        """The first of `keys` that is set, as a whole number."""
        for key in keys:
            if self.values.get(key) is not None:
                return self.int(key)
        return None

    def flag(self, key: str) -> bool | None:
        value = self.values.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.issue(key, f"expected true or false, got {value!r}")
        return None

    def int_list(self, key: str) -> list | None:
        value = self.values.get(key)
        return value if isinstance(value, list) else None


def _identity(c: _Config, config: dict[str, Any], entry_id: str, hf_id: str | None, name: str | None) -> dict:
    name_or_path = config.get("_name_or_path")
    if not hf_id:
        if isinstance(name_or_path, str) and name_or_path and not name_or_path.startswith(("/", ".")):
            hf_id = name_or_path
        else:
            hf_id = _hf_id_from_filename(Path(c.file))
            if hf_id is None:
                c.issues.append(Issue(c.file, "_name_or_path",
                                      "cannot tell the Hugging Face repository; pass --hf-id owner/name"))
    return {"id": entry_id, "name": name or (hf_id.split("/")[-1] if hf_id else entry_id), "hf_id": hf_id or ""}


def _hf_id_from_filename(path: Path) -> str | None:
    """`owner--name.json` (the Hugging Face cache naming) -> `owner/name`."""
    stem = path.stem
    return stem.replace("--", "/", 1) if "--" in stem else None


def _ffn_widths(c: _Config, experts: int | None) -> tuple[int | None, int | None]:
    """(dense FFN width, routed-expert width). Mixtral and gpt-oss give the expert width as
    intermediate_size; Llama 4 gives it as intermediate_size and the dense width as
    intermediate_size_mlp; DeepSeek/Qwen give both."""
    dense = c.int("intermediate_size")
    if not experts:
        return dense, None
    if c.values.get("moe_intermediate_size") is not None:
        return dense, c.int("moe_intermediate_size")
    moe = c.int("intermediate_size", required=True)
    return c.int("intermediate_size_mlp"), moe


def _local_attention(c: _Config, layers: int | None) -> dict:
    """Sliding-window or chunked attention: explicit layer_types, Gemma's pattern, Llama 4's chunked
    attention, or every layer."""
    layers = layers or 0
    window = c.int("sliding_window")
    if c.flag("use_sliding_window") is False:
        window = None
    window_layers = 0
    layer_types = c.int_list("layer_types")
    if window and layer_types is not None:
        window_layers = sum(1 for x in layer_types if x in ("sliding_attention", "chunked_attention"))
    elif window and c.values.get("sliding_window_pattern"):
        pattern = c.int("sliding_window_pattern")
        window_layers = layers - layers // pattern if pattern and pattern > 0 else 0
    elif c.values.get("attention_chunk_size"):
        window = c.int("attention_chunk_size")
        no_rope = c.int_list("no_rope_layers")
        if no_rope:
            window_layers = sum(1 for x in no_rope if x)
        else:
            window_layers = layers - layers // 4
            c.notes.append("chunked attention assumed on 3 of every 4 layers (Llama 4: every 4th layer is global)")
    elif window:
        window_layers = layers
    if window and window_layers:
        return {"sliding_window_tokens": window, "sliding_window_layers": window_layers}
    return {}


def _experts(c: _Config, experts: int, moe_width: int | None) -> dict:
    top_k = c.first_int("num_experts_per_tok", "experts_per_token", "moe_top_k")
    if top_k is None and not any(c.values.get(k) is not None
                                 for k in ("num_experts_per_tok", "experts_per_token", "moe_top_k")):
        c.issue("num_experts_per_tok", "required key is missing from the config")
    shared = c.int("n_shared_experts")
    if shared is None and c.model_type.startswith("llama4"):
        shared = 1
        c.notes.append("one shared expert per MoE layer assumed (Llama 4; not stated in the config)")
    if c.values.get("mlp_only_layers"):
        c.notes.append(f"mlp_only_layers {c.values['mlp_only_layers']} not represented")
    return {
        "num_experts": experts, "experts_per_token": top_k, "shared_experts": shared or 0,
        "moe_intermediate_size": moe_width, "first_dense_layers": c.int("first_k_dense_replace") or 0,
        "moe_layer_interval": c.first_int("interleave_moe_layer_step", "decoder_sparse_step", "moe_layer_freq") or 1,
    }


def _mla(c: _Config) -> dict:
    return {k: c.int(k) for k in ("kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim",
                                  "v_head_dim")}


def _native_dtype(c: _Config, config: dict[str, Any]) -> str | None:
    quant = config.get("quantization_config") or c.values.get("quantization_config")
    method = str(quant.get("quant_method", "")).lower() if isinstance(quant, dict) else ""
    dtype_name = c.values.get("torch_dtype") if c.values.get("torch_dtype") is not None else c.values.get("dtype")
    if method in QUANT_METHODS:
        return QUANT_METHODS[method]
    if method:
        c.issues.append(Issue(c.file, "quantization_config.quant_method",
                              f"{method!r} checkpoints are not supported; allowed: {', '.join(QUANT_METHODS)} "
                              "(import the unquantized model's config instead)"))
        return None
    if dtype_name is None:
        c.notes.append("torch_dtype missing; bf16 assumed")
        return "bf16"
    if str(dtype_name) in DTYPES:
        if str(dtype_name).startswith("float") and dtype_name != "float16":
            c.notes.append(f"published as {dtype_name}; served as bf16")
        return DTYPES[str(dtype_name)]
    c.issues.append(Issue(c.file, "torch_dtype", f"unsupported dtype {dtype_name!r}; allowed: {', '.join(DTYPES)}"))
    return None


def model_entry_from_hf_config(
    config: dict[str, Any],
    *,
    entry_id: str,
    file: str,
    source: str | None = None,
    hf_id: str | None = None,
    name: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Map a Hugging Face config.json onto our `Model` fields; raises CatalogError for what cannot map
    (every problem at once). Returns a plain dict (validated against `Model`) in schema field order,
    without unset fields, id first and provenance last as in the hand-written catalogs."""
    c = _Config(config, file)
    layers = c.int("num_hidden_layers", required=True)
    hidden = c.int("hidden_size", required=True)
    heads = c.int("num_attention_heads", required=True)
    vocab = c.int("vocab_size", required=True)
    kv_heads = c.int("num_key_value_heads") or heads
    kv_lora = c.int("kv_lora_rank")
    experts = c.first_int("num_local_experts", "n_routed_experts", "num_experts")
    dense_width, moe_width = _ffn_widths(c, experts)
    entry: dict[str, Any] = _identity(c, config, entry_id, hf_id, name)
    entry |= {
        "architecture": "mla-moe" if kv_lora else ("moe" if experts else "dense"),
        "num_layers": layers, "hidden_size": hidden, "intermediate_size": dense_width,
        "num_attention_heads": heads, "num_kv_heads": kv_heads,
    }
    if not kv_lora:
        entry["head_dim"] = c.int("head_dim") or (hidden // heads if hidden and heads else None)
    entry["vocab_size"] = vocab
    entry["max_context_tokens"] = c.first_int("max_position_embeddings", "max_sequence_length", "seq_length")
    if entry["max_context_tokens"] is None and not any(
            c.values.get(k) is not None for k in ("max_position_embeddings", "max_sequence_length", "seq_length")):
        c.issue("max_position_embeddings", "required key is missing from the config")
    tie = c.flag("tie_word_embeddings")
    if tie is None and c.model_type.startswith("gemma"):
        tie = True  # Gemma's config class defaults to tied embeddings
    entry["tie_word_embeddings"] = bool(tie)
    bias = c.flag("attention_bias")
    if bias is None and c.model_type in ("qwen2", "qwen2_moe"):
        bias = True
        c.notes.append("attention biases assumed (Qwen2 has q/k/v biases not stated in the config)")
    entry["attention_bias"] = bool(bias)
    entry |= _local_attention(c, layers)
    if experts:
        entry |= _experts(c, experts, moe_width)
    if kv_lora:
        entry |= _mla(c)
    entry["native_dtype"] = _native_dtype(c, config)
    name_or_path = config.get("_name_or_path")
    entry["source"] = source or (f"https://huggingface.co/{name_or_path}" if isinstance(name_or_path, str)
                                 and name_or_path else file)
    entry["as_of"] = today or dt.date.today()
    entry["notes"] = "; ".join(["imported from config.json by `trilemma catalog import-hf`", *c.notes])
    if c.issues:
        raise CatalogError(c.issues)
    entry = {k: v for k, v in entry.items() if v is not None}
    try:
        model = Model.model_validate(entry)
    except ValidationError as exc:
        raise CatalogError(validation_issues(file, exc)) from None
    dumped = model.model_dump(exclude_unset=True, exclude_none=True)
    tail = ("source", "as_of", "notes")
    return {k: dumped[k] for k in dumped if k not in tail} | {k: dumped[k] for k in tail if k in dumped}
