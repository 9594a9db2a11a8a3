"""Where and how the built-in trainer computes: device, precision, compilation, optimizer, batches.

On CUDA (``proxy.device: auto`` when a GPU is present) the trainer uses bf16 autocast, TF32 matmuls,
fused AdamW, ``torch.compile`` (``proxy.compile``, on by default there), gradient accumulation to the
preset's token batch and pinned-memory batches prefetched from the memory maps by a background
thread. On CPU the defaults change nothing: fp32, eager, ``foreach`` AdamW, batches built in the loop.
Training and evaluation run under the same :meth:`Runtime.autocast`, and losses are summed in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixtures.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    """The resolved compute settings of one run (part of its checkpoint key)."""

    device: str          # "cpu" | "cuda"
    precision: str       # "fp32" | "bf16"
    compile: bool
    micro_batch: int     # sequences per forward pass

    def torch_device(self):
        import torch

        return torch.device(self.device)

    def autocast(self):
        """The precision context of every forward pass (training, evaluation, signals)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.device, dtype=torch.bfloat16)

    def record(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "compile": self.compile,
                "micro_batch": self.micro_batch}


def resolve_runtime(proxy: Any, preset: Any) -> Runtime:
    """The run's :class:`Runtime` from ``config.proxy`` (``device``, ``precision``, ``compile``,
    ``micro_batch``) and the preset. ``device: cuda`` without a GPU is refused by name."""
    import torch

    want = getattr(proxy, "device", "auto")
    has_cuda = torch.cuda.is_available()
    if want == "cuda" and not has_cuda:
        raise ConfigError("proxy.device is 'cuda' but torch sees no CUDA device; use auto or cpu.")
    device = "cuda" if (want == "cuda" or (want == "auto" and has_cuda)) else "cpu"
    precision = getattr(proxy, "precision", "auto")
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "fp32"
    compile_ = getattr(proxy, "compile", None)
    compile_ = (device == "cuda") if compile_ is None else bool(compile_)
    override = getattr(proxy, "micro_batch", None)
    micro = preset.micro_batch_for(override if override else (None if device == "cuda" else _cpu_micro(preset)))
    return Runtime(device=device, precision=precision, compile=compile_, micro_batch=micro)


def _cpu_micro(preset: Any) -> int | None:
    """On CPU a modern preset's forward pass holds at most 16 sequences (memory); the demo's presets
    take their whole batch at once, as they always have."""
    return min(preset.micro_batch or preset.batch_size, 16) if preset.arch != "gpt" else None


def configure_backends(runtime: Runtime) -> None:
    """TF32 matmuls and cuDNN convolutions on CUDA (no effect on CPU)."""
    if runtime.device == "cuda":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def make_optimizer(model, preset, runtime: Runtime | None = None):
    """AdamW as the built-in trainer uses it (fused kernels on CUDA, ``foreach`` on CPU)."""
    import torch

    fused = runtime is not None and runtime.device == "cuda"
    options = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(model.parameters(), lr=preset.lr, betas=(0.9, 0.95), weight_decay=0.1, **options)


def compiled(model, runtime: Runtime):
    """``torch.compile(model)`` when the runtime asks for it, else ``model`` (parameters are shared)."""
    if not runtime.compile:
        return model
    import torch

    return torch.compile(model)


class BatchPrefetcher:
    """Builds the next step's batch in a background thread while the current step computes.

    ``make(step) -> (domains, int64 array)`` must be a pure function of the step (a static mixture);
    the tensor comes back in pinned memory, copied to the device without blocking.
    """

    def __init__(self, make: Callable[[int], tuple[np.ndarray, np.ndarray]], device) -> None:
        self.make = make
        self.device = device
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="mixtures-batches")
        self.pending: dict[int, Future] = {}

    def _load(self, step: int):
        import torch

        domains, batch = self.make(step)
        tensor = torch.from_numpy(batch)
        return domains, tensor.pin_memory() if torch.cuda.is_available() else tensor

    def get(self, step: int, last: int):
        """The batch of ``step`` on the device; starts building ``step + 1`` (if ``< last``)."""
        future = self.pending.pop(step, None)
        domains, tokens = future.result() if future is not None else self._load(step)
        if step + 1 < last and step + 1 not in self.pending:
            self.pending[step + 1] = self.pool.submit(self._load, step + 1)
        return domains, tokens.to(self.device, non_blocking=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
