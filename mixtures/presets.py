"""The proxy model presets: their shapes, parameter counts and hyper-parameters (no torch; the config checks a
preset's name against :data:`MODEL_PRESETS` at load). The models themselves: :mod:`mixtures.trainers.model`.
The built-in proxy models and their presets.

Two families:

* ``gpt`` (the CPU demo's presets ``micro`` 50k, ``tiny`` 112k (the default), ``small`` 0.6M, ``base``
  3.2M, ``medium`` 10.6M non-embedding parameters): a small pre-LayerNorm decoder-only transformer with
  learned positions and a ReLU MLP, unchanged since the byte-level demo (same numerics). The three
  small presets take 1024-token steps: on a 2-core CPU at the budgets proxies get (a few 100k
  tokens), the number of optimizer steps matters more than the batch.
* ``llama`` (``1m 5m 15m 30m 60m 150m``, named by non-embedding parameters): RoPE, RMSNorm, SwiGLU
  (hidden ``8/3 d`` rounded up to 64), no biases, optionally tied embeddings; head size 64 from 15m up.
  Token batch and learning rate follow :func:`scaling_rule_hyperparameters` (DeepSeek LLM, 2024).

Parameter counts (Kaplan et al. convention): ``n_params`` excludes the token embedding, the learned
positions and the output head; :meth:`ModelPreset.embedding_params` counts those for a vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from mixtures.errors import ConfigError

VOCAB_SIZE = 256  # the byte tokenizer's vocabulary, the default of every builder
ROPE_BASE = 10_000.0


@dataclass(frozen=True)
class ModelPreset:
    """Shape of a proxy model and of its training batches.

    ``batch_size`` is sequences per optimizer step; ``micro_batch`` sequences per forward pass
    (gradient accumulation up to ``batch_size``; 0: the whole batch at once).
    """

    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    batch_size: int
    lr: float
    arch: str = "gpt"
    d_ff: int = 0             # llama: SwiGLU hidden size
    tied: bool = False        # llama: output head shares the token embedding
    warmup_steps: int = 20
    micro_batch: int = 0

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size

    @property
    def n_params(self) -> int:
        """Non-embedding parameters (attention, MLP and norm weights; token and position embeddings
        and the output head excluded, as in Kaplan et al.)."""
        d = self.d_model
        if self.arch == "llama":
            per_layer = 4 * d * d + 3 * d * self.d_ff + 2 * d  # q,k,v,o; gate, up, down; 2 RMSNorms
            return self.n_layers * per_layer + d  # + final RMSNorm
        per_layer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d  # qkv+proj, fc+proj, biases, 2 LayerNorms
        return self.n_layers * per_layer + 2 * d  # + final LayerNorm

    def embedding_params(self, vocab_size: int = VOCAB_SIZE) -> int:
        """Token embedding, learned positions (``gpt``) and output head (unless tied)."""
        d = self.d_model
        positions = self.seq_len * d if self.arch == "gpt" else 0
        head = 0 if self.tied else vocab_size * d
        return vocab_size * d + positions + head

    def flops_per_token(self, vocab_size: int = VOCAB_SIZE) -> int:
        """Training FLOPs per token: ``6 (N + V d)`` for the parameter matmuls (non-embedding weights and
        the output head; the input embedding is a lookup) plus ``12 L d T`` for attention scores and
        values (PaLM, Chowdhery et al. 2022, appendix B; causal masking not discounted)."""
        return 6 * (self.n_params + vocab_size * self.d_model) + 12 * self.n_layers * self.d_model * self.seq_len

    def micro_batch_for(self, override: int | None = None) -> int:
        """Sequences per forward pass: ``override``, else the preset's, else the whole batch."""
        size = int(override or self.micro_batch or self.batch_size)
        return max(1, min(size, self.batch_size))

    def as_dict(self, vocab_size: int = VOCAB_SIZE) -> dict:
        return {**asdict(self), "n_params": self.n_params, "embedding_params": self.embedding_params(vocab_size),
                "tokens_per_step": self.tokens_per_step}


def swiglu_hidden(d_model: int) -> int:
    """SwiGLU hidden size: ``8/3 d`` (the MLP's parameters match a 4d ReLU MLP), rounded up to 64."""
    return int(math.ceil(8 * d_model / 3 / 64) * 64)


def scaling_rule_hyperparameters(n_params: int, n_layers: int, d_model: int, seq_len: int) -> tuple[int, float]:
    """``(sequences per step, learning rate)`` from DeepSeek LLM's fitted rule (Bi et al. 2024, eq. 1):
    ``B_opt = 0.2920 C^0.3271`` tokens and ``lr_opt = 0.3118 C^-0.1250``, with ``C = M D`` for
    ``M = 72 L d^2 + 6 L d T`` non-embedding FLOPs per token, taken at the compute-optimal budget
    ``D = 20 N`` (Hoffmann et al. 2022). The batch is rounded to a multiple of 16 sequences, the
    learning rate to 3 significant digits. The same values hold for every budget of a preset, so an
    eval point along a run is still where a shorter run would end."""
    flops_per_token = 72 * n_layers * d_model**2 + 6 * n_layers * d_model * seq_len
    compute = flops_per_token * 20 * n_params
    batch_tokens = 0.2920 * compute**0.3271
    lr = 0.3118 * compute**-0.1250
    sequences = max(16, int(round(batch_tokens / seq_len / 16)) * 16)
    return sequences, float(f"{lr:.3g}")


def _llama(d_model: int, n_layers: int, n_heads: int, seq_len: int = 512, micro_batch: int = 64) -> ModelPreset:
    shape = ModelPreset(d_model, n_layers, n_heads, seq_len, batch_size=1, lr=0.0, arch="llama",
                        d_ff=swiglu_hidden(d_model), warmup_steps=100, micro_batch=micro_batch)
    batch, lr = scaling_rule_hyperparameters(shape.n_params, n_layers, d_model, seq_len)
    return replace(shape, batch_size=batch, lr=lr)


MODEL_PRESETS: dict[str, ModelPreset] = {
    "micro": ModelPreset(d_model=64, n_layers=1, n_heads=2, seq_len=64, batch_size=16, lr=3e-3),
    "tiny": ModelPreset(d_model=96, n_layers=1, n_heads=3, seq_len=128, batch_size=8, lr=3e-3),
    "small": ModelPreset(d_model=128, n_layers=3, n_heads=4, seq_len=128, batch_size=8, lr=2e-3),
    "base": ModelPreset(d_model=256, n_layers=4, n_heads=4, seq_len=256, batch_size=16, lr=1e-3),
    "medium": ModelPreset(d_model=384, n_layers=6, n_heads=6, seq_len=256, batch_size=16, lr=6e-4),
    "1m": _llama(128, 5, 2, seq_len=256),
    "5m": _llama(256, 6, 4),
    "15m": _llama(384, 8, 6),
    "30m": _llama(512, 9, 8),
    "60m": _llama(640, 12, 10),
    "150m": _llama(1024, 12, 16, micro_batch=32),
}
DEFAULT_PRESET = "tiny"


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name`` (a clear error listing the presets otherwise)."""
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown proxy model {name!r} (proxy.scales[].model); presets: {sorted(MODEL_PRESETS)}"
        ) from None
