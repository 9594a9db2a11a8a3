"""The built-in proxy model: a small pre-LayerNorm decoder-only transformer over bytes (vocab 256).

Presets range from ~0.05M to ~10M non-embedding parameters (``micro`` 50k, ``tiny`` 112k, the default,
``small`` 0.6M, ``base`` 3.2M, ``medium`` 10.6M). The three small presets take 1024-token steps: on a
2-core CPU at the budgets proxies get (a few 100k tokens), the number of optimizer steps matters more
than the batch, and one step costs about the same wall time per token either way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mixtures.errors import ConfigError

VOCAB_SIZE = 256


@dataclass(frozen=True)
class ModelPreset:
    """Shape of a proxy model and of its training batches."""

    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    batch_size: int
    lr: float

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size

    @property
    def n_params(self) -> int:
        """Non-embedding parameters (attention, MLP and LayerNorm weights; byte and position
        embeddings and the output head excluded, as in Kaplan et al.)."""
        d = self.d_model
        per_layer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d  # qkv+proj, fc+proj, biases, 2 LayerNorms
        return self.n_layers * per_layer + 2 * d  # + final LayerNorm

    def as_dict(self) -> dict:
        return {**asdict(self), "n_params": self.n_params, "tokens_per_step": self.tokens_per_step}


MODEL_PRESETS: dict[str, ModelPreset] = {
    "micro": ModelPreset(d_model=64, n_layers=1, n_heads=2, seq_len=64, batch_size=16, lr=3e-3),
    "tiny": ModelPreset(d_model=96, n_layers=1, n_heads=3, seq_len=128, batch_size=8, lr=3e-3),
    "small": ModelPreset(d_model=128, n_layers=3, n_heads=4, seq_len=128, batch_size=8, lr=2e-3),
    "base": ModelPreset(d_model=256, n_layers=4, n_heads=4, seq_len=256, batch_size=16, lr=1e-3),
    "medium": ModelPreset(d_model=384, n_layers=6, n_heads=6, seq_len=256, batch_size=16, lr=6e-4),
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


def build_model(preset: ModelPreset):
    """A freshly initialised :class:`ByteTransformer` (uses the current torch RNG state)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.out = nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.relu(self.fc(self.ln2(x))))

    class ByteTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = preset.d_model
            self.wte = nn.Embedding(VOCAB_SIZE, d)
            self.wpe = nn.Embedding(preset.seq_len, d)
            self.blocks = nn.ModuleList(Block(d, preset.n_heads) for _ in range(preset.n_layers))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, VOCAB_SIZE, bias=False)
            self.apply(self._init)
            for block in self.blocks:  # GPT-2 style: scale the residual projections by depth
                for proj in (block.proj, block.out):
                    nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * preset.n_layers))

        @staticmethod
        def _init(module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)

        def forward(self, idx):
            """Logits (batch, seq, 256)."""
            t = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

        def non_embedding_params(self) -> int:
            return sum(p.numel() for n, p in self.named_parameters() if not n.startswith(("wte.", "wpe.", "head.")))

    return ByteTransformer()
