"""Catalog entries as strict pydantic models.

Conventions (stated once, used everywhere):
- GB = 1e9 bytes, TB/s = 1e12 bytes/s, TFLOPS are dense (no 2:4 sparsity).
- Link bandwidths are per GPU and per direction (unidirectional) in GB/s. NVLink 4 on H100 SXM is
  900 GB/s bidirectional, so 450 here.
- Every entry carries `source` (URL or document) and `as_of` (date the value was read or published).
- A value that could not be sourced is left out (None) and treated as unknown by the code.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from solver.units import HOURS_PER_YEAR

ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*$"

WeightQuant = Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4", "mxfp4"]
KvQuant = Literal["bf16", "fp16", "fp8"]

Family = Annotated[str, Field(pattern=ID_PATTERN)]
"""Id of an accelerator family in catalogs/families.yaml (checked when the catalogs load)."""


class Strict(BaseModel):
    """Base of every catalog and problem model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Strict):
    id: str = Field(pattern=ID_PATTERN)
    """Lowercase-kebab identifier, unique within its catalog (`h100-sxm`)."""
    source: str = Field(min_length=3)
    """URL or document the values were read from."""
    as_of: dt.date
    """Date the values were published or read."""
    notes: str | None = None
    """Caveats, derivations, values deliberately left out."""


class PeakTflops(Strict):
    """Dense peak matrix throughput per datatype, TFLOPS (TOPS for int8). Missing = not native."""

    bf16: float | None = Field(default=None, gt=0)
    fp16: float | None = Field(default=None, gt=0)
    fp8: float | None = Field(default=None, gt=0)
    int8: float | None = Field(default=None, gt=0)
    fp4: float | None = Field(default=None, gt=0)


class Accelerator(Sourced):
    name: str
    """Marketing name."""
    vendor: Literal["nvidia", "amd", "intel", "google"]
    family: Family
    """Architecture family; engine support and calibrated efficiencies are keyed on it."""
    memory_gb: float = Field(gt=0)
    """Device memory, GB (1e9 bytes)."""
    hbm_bandwidth_tb_s: float = Field(gt=0)
    """Peak device-memory bandwidth, TB/s."""
    peak_tflops: PeakTflops
    """Dense peak per datatype; a datatype absent here is not run natively."""
    int4_weight_only: bool = True
    """Whether weight-only int4 (W4A16, dequantised in the kernel) is available."""
    gpus_per_node: int = Field(ge=1)
    """Accelerators per server / instance board."""
    scale_up_domain_gpus: int = Field(ge=1)
    """GPUs reachable over the intra-node fabric (8 for HGX, 72 for NVL72)."""
    intra_node_bandwidth_gb_s: float | None = Field(default=None, gt=0)
    """Per-GPU, per-direction bandwidth inside the scale-up domain, GB/s."""
    inter_node_bandwidth_gb_s: float | None = Field(default=None, gt=0)
    """Per-GPU, per-direction network bandwidth between nodes, GB/s (400 Gb/s NIC = 50 GB/s)."""
    tdp_w: float | None = Field(default=None, gt=0)
    """Board power, W."""
    scale_up_link: Literal["nvlink", "pcie", "infinity-fabric", "ici"] | None = None
    """What joins the GPUs of the scale-up domain; `pcie` (no NVLink) selects the PCIe all-reduce model of
    solver/perf/pcie.py."""

    @model_validator(mode="after")
    def _domain_covers_node(self) -> Accelerator:
        if self.scale_up_domain_gpus < self.gpus_per_node and self.scale_up_domain_gpus != 1:
            raise ValueError("scale_up_domain_gpus must be 1 or at least gpus_per_node")
        return self

    @property
    def native_dtypes(self) -> set[str]:
        return {k for k, v in self.peak_tflops.model_dump().items() if v is not None}


class Model(Sourced):
    name: str
    hf_id: str
    """Hugging Face repository the config was read from."""
    architecture: Literal["dense", "moe", "mla-moe"]
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    intermediate_size: int | None = Field(default=None, ge=1)
    """Dense FFN width (None when every layer is MoE)."""
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    """Per-head dimension (None for MLA, which uses the qk/v head dims)."""
    vocab_size: int = Field(ge=1)
    max_context_tokens: int = Field(ge=1)
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    sliding_window_tokens: int | None = Field(default=None, ge=1)
    """Window of the local-attention layers (also Llama 4's chunked attention)."""
    sliding_window_layers: int = Field(default=0, ge=0)
    """How many of `num_layers` use the window; the rest attend over the whole context."""
    # Mixture of experts
    num_experts: int | None = Field(default=None, ge=1)
    experts_per_token: int | None = Field(default=None, ge=1)
    shared_experts: int = Field(default=0, ge=0)
    moe_intermediate_size: int | None = Field(default=None, ge=1)
    """Per-expert FFN width."""
    first_dense_layers: int = Field(default=0, ge=0)
    """Leading layers with a dense FFN (DeepSeek `first_k_dense_replace`)."""
    moe_layer_interval: int = Field(default=1, ge=1)
    """Every n-th layer is MoE (Llama 4 Maverick: 2)."""
    # Multi-head latent attention
    kv_lora_rank: int | None = Field(default=None, ge=1)
    q_lora_rank: int | None = Field(default=None, ge=1)
    qk_rope_head_dim: int | None = Field(default=None, ge=1)
    qk_nope_head_dim: int | None = Field(default=None, ge=1)
    v_head_dim: int | None = Field(default=None, ge=1)
    # Checkpoint
    native_dtype: Literal["bf16", "fp16", "fp8", "mxfp4"]
    """Weight dtype of the published checkpoint (DeepSeek-V3: fp8, gpt-oss: mxfp4 experts)."""
    native_fp8_block_size: int | None = Field(default=None, ge=1)
    """Edge of the weight-scale blocks of a published FP8 checkpoint (DeepSeek-V3: 128, from
    `quantization_config.weight_block_size` [128, 128]); engines serve such weights with block-scaled
    FP8 GEMM and MoE kernels. None: not an FP8 checkpoint, or scaled per tensor or channel."""
    published_total_params_b: float | None = Field(default=None, gt=0)
    """Total parameters, billions, as the model card states (checked against the architecture)."""
    published_active_params_b: float | None = Field(default=None, gt=0)
    params_source: str | None = None
    """Where the published counts were read."""
    quantized_checkpoints: dict[WeightQuant, str] = {}
    """Pre-quantized Hugging Face checkpoints of this same model by weight quant ({fp8: nvidia/...-FP8});
    launch commands load them instead of `hf_id` for that quant."""
    quantized_checkpoints_source: str | None = None
    """Where each checkpoint id was seen to exist."""

    @model_validator(mode="after")
    def _architecture_fields(self) -> Model:
        missing = []
        if self.architecture in ("moe", "mla-moe"):
            for f in ("num_experts", "experts_per_token", "moe_intermediate_size"):
                if getattr(self, f) is None:
                    missing.append(f)
        if self.architecture == "mla-moe":
            for f in ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
                if getattr(self, f) is None:
                    missing.append(f)
        elif self.head_dim is None:
            missing.append("head_dim")
        if missing:
            raise ValueError(f"architecture {self.architecture!r} needs {', '.join(missing)}")
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        if self.sliding_window_layers > self.num_layers:
            raise ValueError("sliding_window_layers cannot exceed num_layers")
        if self.sliding_window_layers and self.sliding_window_tokens is None:
            raise ValueError("sliding_window_layers needs sliding_window_tokens")
        if self.experts_per_token and self.num_experts and self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token cannot exceed num_experts")
        if self.quantized_checkpoints and not self.quantized_checkpoints_source:
            raise ValueError("quantized_checkpoints needs quantized_checkpoints_source")
        return self

    @property
    def is_moe(self) -> bool:
        return self.num_experts is not None

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None


class Offer(Sourced):
    """One way to obtain accelerators: a cloud instance type or an owned server."""

    kind: Literal["cloud", "owned"]
    provider: str
    """Cloud provider or, for owned hardware, the vendor/integrator quoted."""
    instance_type: str
    accelerator: str
    """Accelerator id from accelerators.yaml."""
    gpus_per_instance: int = Field(ge=1)
    region: str | None = None
    usd_per_hour_on_demand: float | None = Field(default=None, gt=0)
    usd_per_hour_spot: float | None = Field(default=None, gt=0)
    usd_per_hour_reserved_1y: float | None = Field(default=None, gt=0)
    """Effective hourly price of a 1-year commitment (all hours of the year are paid)."""
    usd_per_hour_reserved_3y: float | None = Field(default=None, gt=0)
    # Owned hardware
    purchase_usd: float | None = Field(default=None, gt=0)
    """Purchase price of one server (all its GPUs)."""
    amortization_years: float | None = Field(default=None, gt=0)
    power_kw_full: float | None = Field(default=None, gt=0)
    """Server wall power at full load, kW."""
    power_kw_idle: float | None = Field(default=None, ge=0)
    pue: float | None = Field(default=None, ge=1)
    """Data-centre power usage effectiveness (cooling overhead)."""
    usd_per_kwh: float | None = Field(default=None, gt=0)
    price_sources: dict[str, str] = Field(default_factory=dict)
    """Source per price field when they differ from `source`."""

    @model_validator(mode="after")
    def _priced(self) -> Offer:
        if self.kind == "cloud":
            if not any(
                (self.usd_per_hour_on_demand, self.usd_per_hour_spot,
                 self.usd_per_hour_reserved_1y, self.usd_per_hour_reserved_3y)
            ):
                raise ValueError("a cloud offer needs at least one usd_per_hour_* price")
        else:
            missing = [
                f for f in ("purchase_usd", "amortization_years", "power_kw_full", "pue", "usd_per_kwh")
                if getattr(self, f) is None
            ]
            if missing:
                raise ValueError(f"an owned offer needs {', '.join(missing)}")
        return self

    def usd_per_hour(self, tier: str) -> float | None:
        """Hourly price of one instance under a pricing tier (owned: amortised capital + full power)."""
        if self.kind == "owned":
            if tier != "owned":
                return None
            return self.owned_capital_usd_per_hour + self.owned_power_usd_per_hour(1.0)
        return {
            "on_demand": self.usd_per_hour_on_demand,
            "spot": self.usd_per_hour_spot,
            "reserved_1y": self.usd_per_hour_reserved_1y,
            "reserved_3y": self.usd_per_hour_reserved_3y,
        }.get(tier)

    @property
    def owned_capital_usd_per_hour(self) -> float:
        """purchase / (years · 8760 h)."""
        assert self.purchase_usd and self.amortization_years
        return self.purchase_usd / (self.amortization_years * HOURS_PER_YEAR)

    def owned_power_usd_per_hour(self, utilisation: float) -> float:
        """(idle + u·(full − idle)) kW · PUE · USD/kWh."""
        assert self.power_kw_full and self.pue and self.usd_per_kwh
        idle = self.power_kw_idle if self.power_kw_idle is not None else self.power_kw_full
        kw = idle + utilisation * (self.power_kw_full - idle)
        return kw * self.pue * self.usd_per_kwh


class EngineSupport(Strict):
    """Quantizations an engine runs on a set of accelerator families."""

    families: list[Family] = Field(min_length=1)
    weight_quants: list[WeightQuant] = Field(min_length=1)
    kv_quants: list[KvQuant] = Field(min_length=1)
    architectures: list[Literal["dense", "moe", "mla-moe"]] = ["dense", "moe", "mla-moe"]
    source: str | None = None


class EfficiencyProfile(Strict):
    """Calibrated performance parameters of an engine on an accelerator family.

    The shape of every kernel's efficiency (GEMM, MoE, attention, collectives as functions of their
    size) comes from `catalogs/kernel_fits.yaml` (measured kernels); these few serving-level values
    scale and complete it (solver/perf/latency.py shows where each enters). Fitted values carry what
    they were fitted to.
    """

    families: list[Family] = Field(min_length=1)
    compute_efficiency: float = Field(gt=0, le=1)
    """Serving derate on the kernel-fitted compute efficiency (1 = isolated-kernel speed)."""
    memory_efficiency: float = Field(gt=0, le=1)
    """Serving derate on the kernel-fitted memory-bandwidth efficiency (weights and KV streaming)."""
    step_overhead_ms: float = Field(ge=0)
    """Fixed CPU/launch/sampling overhead per engine iteration."""
    kernel_floor_scale: float = Field(default=1.0, gt=0, le=2)
    """Share of each kernel's latency floor t0, as timed alone, that a served iteration pays (CUDA graphs
    replay the kernels back to back and engines fuse norms, activations and quantization into their
    neighbours; 1 = the isolated floor). It sets the latency of small batches, where floors dominate."""
    collective_latency_us: float = Field(ge=0)
    """α of one 8-GPU all-reduce inside a node (recorded from the kernel fits of the family; the model
    reads α per GPU count from catalogs/kernel_fits.yaml)."""
    fitted_to: str
    """Which data the values came from (calibration cases, kernel tables, or a stated prior)."""
    kernel_framework: str | None = None
    """Framework whose kernel curves apply (trtllm, vllm, sglang); default: the engine id."""
    ttft_overhead_ms: float = Field(default=0.0, ge=0)
    """Fixed per-request time added to TTFT (tokenisation, HTTP, scheduling)."""
    max_batch_default: int = Field(ge=1)
    """Requests decoding at once when the caller sets no max_batch (engine default max_num_seqs)."""
    max_num_tokens: int = Field(ge=64)
    """Token budget of one iteration (chunked prefill size)."""
    memory_utilisation: float = Field(gt=0, le=1)
    """Fraction of device memory the engine allocates (vLLM gpu_memory_utilization)."""
    runtime_reserve_gb: float = Field(ge=0)
    """Per-GPU memory for CUDA context, communication buffers and graphs, GB."""
    kv_admission_output_fraction: float = Field(ge=0, le=1)
    """KV reserved per admitted request = prompt + this fraction of the output (1 = the scheduler
    reserves the whole sequence, TensorRT-LLM's GUARANTEED_NO_EVICT; 0.5 = paged, on demand)."""
    kv_memory_fraction_of_free: bool
    """True when `memory_utilisation` applies to the memory left after weights and activations
    (TensorRT-LLM kv_cache_free_gpu_mem_fraction); False when it is a share of the whole device (vLLM
    gpu_memory_utilization, SGLang mem_fraction_static)."""
    kv_quant_default: Literal["auto", "bf16", "fp16", "fp8"]
    """KV-cache dtype when the caller names none: `auto` = fp8 with fp8/fp4/mxfp4 weights where the
    engine runs an fp8 KV cache on the family (quantized checkpoints ship KV scales), else the
    activation dtype (bf16, fp16 for fp16 weights)."""
    fit_error: dict[str, float] = {}
    """Median absolute percentage error per metric on the cases it was fitted to."""


class EngineSettings(Strict):
    """An engine's own defaults, the same on every family (not fitted). A profile takes each of them
    unless it sets the field itself."""

    max_batch_default: int = Field(ge=1)
    max_num_tokens: int = Field(ge=64)
    memory_utilisation: float = Field(gt=0, le=1)
    runtime_reserve_gb: float = Field(ge=0)
    kv_admission_output_fraction: float = Field(ge=0, le=1)
    kv_memory_fraction_of_free: bool
    kv_quant_default: Literal["auto", "bf16", "fp16", "fp8"]
    source: str = Field(min_length=3)
    """Where the defaults were read (engine documentation)."""
    as_of: dt.date
    notes: str | None = None

    def profile_fields(self) -> dict[str, Any]:
        """The settings as `EfficiencyProfile` fields."""
        return self.model_dump(exclude={"source", "as_of", "notes"})


class EngineParallelism(Strict):
    """The layouts an engine runs (a replica is pp stages of tp·dp GPUs; MoE layers split them as
    moe_tp × ep), from its documentation."""

    attention_dp: Literal["none", "all", "any"]
    """`none`: dp = 1; `all`: attention data parallelism makes every rank a dp rank (tp = 1) or is off;
    `any`: dp groups of tp GPUs."""
    expert_parallel: Literal["none", "whole_stage", "divides_stage"]
    """`none`: ep = 1; `whole_stage`: ep = 1 or ep = tp·dp; `divides_stage`: any ep dividing tp·dp."""
    all_to_all_backends: list[str] = []
    """Expert-parallel all-to-all implementations the engine documents (e.g. DeepEP normal/low-latency)."""
    source: str = Field(min_length=3)
    notes: str | None = None


class PrefixCaching(Strict):
    """Whether the engine reuses the KV cache of a prompt prefix it has already computed."""

    enabled_by_default: bool
    """True when a plain launch reuses cached prefixes (no flag needed)."""
    source: str = Field(min_length=3)
    """The engine documentation that says so."""
    as_of: dt.date
    notes: str | None = None


class SlidingWindowKv(Strict):
    """How many tokens of KV the engine keeps per request in a sliding-window layer, for capacity."""

    holds: Literal["window", "full_context"]
    """`window`: only the last window of tokens (the layer's pages are freed as the window moves on);
    `full_context`: as many as a full-attention layer (the KV capacity is sized as if every layer were
    full attention), so windows save attention time but admit no larger batch."""
    source: str = Field(min_length=3)
    as_of: dt.date
    notes: str | None = None


class Engine(Sourced):
    name: str
    support: list[EngineSupport] = Field(min_length=1)
    parallelism: EngineParallelism | None = None
    """Layouts the engine runs; absent: any dp and any ep dividing tp·dp."""
    settings: EngineSettings | None = None
    """The engine's defaults (kept by hand, with their source); every profile takes them."""
    profiles: list[EfficiencyProfile] = []
    """Calibrated efficiency per accelerator family (solver/perf falls back as documented there)."""
    aliases: list[str] = []
    """Other names mapped explicitly onto this engine (NVIDIA NIM runs TensorRT-LLM or vLLM)."""
    launch_template: str | None = None
    """For engines without a built-in launch renderer (solver/deploy/engine_args.py renders vLLM, SGLang
    and TensorRT-LLM): a Python str.format template; fields: hf_id, tp, dp, pp, ep, max_batch,
    max_model_len, port, quant_flags, kv_quant_flags, ep_flags. Fields with no value render empty."""
    launch_notes: str | None = None
    """How the built-in launch renderer spells each layout for this engine, with the docs it follows."""
    images: dict[str, str] = {}
    """Container image by accelerator family or vendor (family first): what emitted manifests run."""
    images_source: str | None = None
    """Where each image reference was read."""
    ep_flags: str = ""
    """Flags that switch expert parallelism on when ep > 1 (vLLM: --enable-expert-parallel)."""
    quant_flags: dict[str, str] = {}
    """Extra launch flags per weight quantization."""
    kv_quant_flags: dict[str, str] = {}
    prefix_caching: PrefixCaching | None = None
    """Prefix caching (automatic prefix caching, RadixAttention, KV cache reuse); unset: not modelled,
    a workload's shared prefix is prefilled in full on this engine."""
    sliding_window_kv: SlidingWindowKv | None = None
    """KV kept per request in sliding-window layers; unset: not recorded, taken as the window only."""

    @field_validator("aliases")
    @classmethod
    def _alias_ids(cls, v: list[str]) -> list[str]:
        return [a.lower() for a in v]

    @model_validator(mode="before")
    @classmethod
    def _profiles_take_the_settings(cls, data: Any) -> Any:
        """Each profile gets the engine's `settings` for the fields it does not set itself."""
        settings = data.get("settings") if isinstance(data, dict) else None
        if isinstance(settings, EngineSettings):
            shared = settings.profile_fields()
        elif isinstance(settings, dict):
            shared = {k: v for k, v in settings.items() if k not in ("source", "as_of", "notes")}
        else:
            shared = {}
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
            return data
        needed = [k for k in EngineSettings.model_fields if k not in ("source", "as_of", "notes")]
        for i, p in enumerate(data["profiles"]):
            missing = [k for k in needed if isinstance(p, dict) and k not in p and k not in shared]
            if missing:
                raise ValueError(f"profiles[{i}] has no {', '.join(missing)}: give the engine `settings:` "
                                 f"(its defaults, as in the built-in catalogs/engines.yaml) or set them in the profile")
        profiles = [{**shared, **p} if isinstance(p, dict) else p for p in data["profiles"]]
        return {**data, "profiles": profiles}


class ProfilePrior(Strict):
    """Where a family's profile for one engine takes its values when calibration has no cases for it."""

    engine: str
    family: Family
    why: str


class AcceleratorFamily(Sourced):
    """An accelerator architecture family: what the performance model assumes for its members. A new
    family is one entry here (plus its accelerators and the engines' support lists)."""

    name: str
    kernel_system: str
    """System of catalogs/kernel_fits.yaml whose fitted kernel efficiencies apply to members without
    kernel tables of their own (fractions of each member's own spec-sheet peaks)."""
    kernel_tables_measured: bool
    """True when `kernel_system` was measured on this family; False when it is a prior borrowed from
    the closest measured family."""
    default_inter_node_bandwidth_gb_s: float = Field(gt=0)
    """Network bandwidth per GPU per direction, GB/s, for a member whose entry gives none."""
    profile_priors: dict[str, ProfilePrior] = {}
    """Per engine id: the profile whose fitted values this family's profile copies when calibration
    has no cases for (engine, this family)."""


class CatalogFile(Strict):
    """Shape of one catalog YAML file: any subset of the four sections."""

    accelerators: list[Accelerator] = []
    models: list[Model] = []
    offers: list[Offer] = []
    engines: list[Engine] = []
    families: list[AcceleratorFamily] = []
