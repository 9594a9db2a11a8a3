"""The built-in proxy models, built from the presets of :mod:`mixtures.presets` (re-exported here)."""

from __future__ import annotations

import math

from mixtures.errors import ConfigError
from mixtures.presets import (DEFAULT_PRESET, MODEL_PRESETS, ROPE_BASE, VOCAB_SIZE, ModelPreset, get_preset,
                              scaling_rule_hyperparameters, swiglu_hidden)

__all__ = ["DEFAULT_PRESET", "MODEL_PRESETS", "ROPE_BASE", "VOCAB_SIZE", "ModelPreset", "build_model", "get_preset",
           "scaling_rule_hyperparameters", "swiglu_hidden"]


def build_model(preset: ModelPreset, vocab_size: int = VOCAB_SIZE):
    """A freshly initialised model of ``preset``'s family (uses the current torch RNG state)."""
    if preset.arch == "llama":
        return _build_llama(preset, vocab_size)
    if preset.arch != "gpt":
        raise ConfigError(f"unknown model family {preset.arch!r}; use 'gpt' or 'llama'")
    return _build_gpt(preset, vocab_size)


def _build_gpt(preset: ModelPreset, vocab_size: int):
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
            self.wte = nn.Embedding(vocab_size, d)
            self.wpe = nn.Embedding(preset.seq_len, d)
            self.blocks = nn.ModuleList(Block(d, preset.n_heads) for _ in range(preset.n_layers))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab_size, bias=False)
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
            """Logits (batch, seq, vocab)."""
            t = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

        def non_embedding_params(self) -> int:
            return sum(p.numel() for n, p in self.named_parameters() if not n.startswith(("wte.", "wpe.", "head.")))

    return ByteTransformer()


def _build_llama(preset: ModelPreset, vocab_size: int):
    import torch
    from torch import nn
    from torch.nn import functional as F

    d, heads = preset.d_model, preset.n_heads
    head_dim = d // heads
    if head_dim * heads != d or head_dim % 2:
        raise ConfigError(f"d_model {d} must split into {heads} heads of an even size")

    class RMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return F.rms_norm(x, (d,), self.weight, eps=1e-6)

    def rotate(x, cos, sin):
        """RoPE (Su et al. 2021) on (b, heads, t, head_dim), pairs in the half-split layout."""
        half = x.shape[-1] // 2
        turned = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos.to(x.dtype) + turned * sin.to(x.dtype)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1 = RMSNorm()
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.proj = nn.Linear(d, d, bias=False)
            self.norm2 = RMSNorm()
            self.gate_up = nn.Linear(d, 2 * preset.d_ff, bias=False)
            self.down = nn.Linear(preset.d_ff, d, bias=False)

        def forward(self, x, cos, sin):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(rotate(q, cos, sin), rotate(k, cos, sin), v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            gate, up = self.gate_up(self.norm2(x)).chunk(2, dim=-1)
            return x + self.down(F.silu(gate) * up)

    class Transformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab_size, d)
            self.blocks = nn.ModuleList(Block() for _ in range(preset.n_layers))
            self.ln_f = RMSNorm()
            self.head = None if preset.tied else nn.Linear(d, vocab_size, bias=False)
            inv = 1.0 / ROPE_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
            angles = torch.outer(torch.arange(preset.seq_len, dtype=torch.float32), inv)
            self.register_buffer("cos", angles.cos().repeat(1, 2)[None, None], persistent=False)
            self.register_buffer("sin", angles.sin().repeat(1, 2)[None, None], persistent=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    residual = name.endswith(("proj.weight", "down.weight"))
                    std = 0.02 / math.sqrt(2 * preset.n_layers) if residual else 0.02
                    nn.init.normal_(p, std=std)

        def forward(self, idx):
            """Logits (batch, seq, vocab)."""
            t = idx.shape[1]
            cos, sin = self.cos[..., :t, :], self.sin[..., :t, :]
            x = self.wte(idx)
            for block in self.blocks:
                x = block(x, cos, sin)
            x = self.ln_f(x)
            return self.head(x) if self.head is not None else x @ self.wte.weight.t()

        def non_embedding_params(self) -> int:
            return sum(p.numel() for n, p in self.named_parameters() if not n.startswith(("wte.", "head.")))

    return Transformer()
