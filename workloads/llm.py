"""Llama-style decoder workloads: prefill, decode (unit = token) and a training step.

The decoder, in plain torch: token embedding; pre-norm blocks of RMSNorm -> grouped-query attention
with rotary embeddings (Llama 3 frequency scaling) and a KV cache -> RMSNorm -> SwiGLU MLP; a final
RMSNorm and the output projection (tied to the embedding where the published model ties it).
Attention goes through ``scaled_dot_product_attention``, sharing KV heads natively (``enable_gqa``).
Weights are random (N(0, 0.02)), prompts random token ids; shapes are the published ones (MODELS).
Prefill and decode are measured separately; docs/workloads.md describes each step and the decode
cache cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_workloads.common import (
    INFERENCE_DTYPES,
    TRAINING_DTYPES,
    ModelWorkload,
    autocast_for,
    build_module,
    compile_or_eager,
    count_flops,
    make_optimizer,
    tensor_bytes,
)

from bench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a Llama-style decoder. ``rope_scaling``: (factor, low_freq, high_freq, original_len)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool
    max_positions: int = 131072
    rope_theta: float = 500000.0
    rope_scaling: tuple[float, float, float, int] | None = None
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


MODELS = {
    # meta-llama/Llama-3.2-1B config.json: 1,235,814,400 parameters (embedding tied to the output)
    "llama-3.2-1b": LlamaConfig(2048, 16, 32, 8, 8192, 128256, True, rope_scaling=(32.0, 1.0, 4.0, 8192)),
    # meta-llama/Llama-3.1-8B config.json: 8,030,261,248 parameters (untied output projection)
    "llama-3.1-8b": LlamaConfig(4096, 32, 32, 8, 14336, 128256, False, rope_scaling=(8.0, 1.0, 4.0, 8192)),
    # same architecture at toy width and depth, for the smoke presets
    "llama-tiny": LlamaConfig(128, 2, 4, 2, 384, 1024, True, max_positions=4096),
}


def rope_frequencies(cfg: LlamaConfig) -> list[float]:
    """Rotary inverse frequencies (radians per position), with Llama 3's long-context scaling."""
    d = cfg.head_dim
    freqs = [cfg.rope_theta ** (-i / d) for i in range(0, d, 2)]
    if cfg.rope_scaling is None:
        return freqs
    factor, low, high, original = cfg.rope_scaling
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < original / high:
            out.append(f)
        elif wavelen > original / low:
            out.append(f / factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def _model_classes():
    """Define the modules on first use, so importing this file does not import torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    native_gqa = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)

    class RMSNorm(nn.Module):
        def __init__(self, dim: int, eps: float) -> None:
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
            return normed.to(x.dtype) * self.weight

    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin

    class Attention(nn.Module):
        def __init__(self, cfg: LlamaConfig) -> None:
            super().__init__()
            self.h, self.kv, self.d = cfg.heads, cfg.kv_heads, cfg.head_dim
            self.wqkv = nn.Linear(cfg.hidden, (self.h + 2 * self.kv) * self.d, bias=False)
            self.wo = nn.Linear(self.h * self.d, cfg.hidden, bias=False)

        def forward(self, x, cos, sin, cache, start: int) -> torch.Tensor:
            b, t, _ = x.shape
            q, k, v = self.wqkv(x).split([self.h * self.d, self.kv * self.d, self.kv * self.d], -1)
            cos, sin = cos.to(q.dtype), sin.to(q.dtype)  # autocast: keep q and k in the compute dtype
            q = rotate(q.view(b, t, self.h, self.d).transpose(1, 2), cos, sin)
            k = rotate(k.view(b, t, self.kv, self.d).transpose(1, 2), cos, sin)
            v = v.view(b, t, self.kv, self.d).transpose(1, 2)
            if cache is not None:
                k_cache, v_cache = cache
                k_cache[:, :, start : start + t] = k
                v_cache[:, :, start : start + t] = v
                k, v = k_cache[:, :, : start + t], v_cache[:, :, : start + t]
            if t > 1 and start > 0:
                raise ValueError("a multi-token pass must start at position 0 (prefill)")
            extra = {}
            if self.h != self.kv:
                if native_gqa:
                    extra["enable_gqa"] = True
                else:
                    k, v = (z.repeat_interleave(self.h // self.kv, 1) for z in (k, v))
            out = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, **extra)
            return self.wo(out.transpose(1, 2).reshape(b, t, self.h * self.d))

    class Block(nn.Module):
        def __init__(self, cfg: LlamaConfig) -> None:
            super().__init__()
            self.attn_norm = RMSNorm(cfg.hidden, cfg.eps)
            self.attn = Attention(cfg)
            self.mlp_norm = RMSNorm(cfg.hidden, cfg.eps)
            self.gate_up = nn.Linear(cfg.hidden, 2 * cfg.intermediate, bias=False)
            self.down = nn.Linear(cfg.intermediate, cfg.hidden, bias=False)

        def forward(self, x, cos, sin, cache, start: int) -> torch.Tensor:
            x = x + self.attn(self.attn_norm(x), cos, sin, cache, start)
            gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, -1)
            return x + self.down(F.silu(gate) * up)

    class Decoder(nn.Module):
        def __init__(self, cfg: LlamaConfig, positions: int) -> None:
            super().__init__()
            self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
            self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
            self.norm = RMSNorm(cfg.hidden, cfg.eps)
            self.lm_head = None if cfg.tied else nn.Linear(cfg.hidden, cfg.vocab, bias=False)
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)) and not m.weight.is_meta:
                    nn.init.normal_(m.weight, std=0.02)
            inv = torch.tensor(rope_frequencies(cfg), dtype=torch.float32)
            angles = torch.outer(torch.arange(positions, dtype=torch.float32), inv).repeat(1, 2)
            dtype = torch.get_default_dtype()
            self.register_buffer("cos", angles.cos().to(dtype), persistent=False)
            self.register_buffer("sin", angles.sin().to(dtype), persistent=False)

        def forward(self, tokens, cache=None, start: int = 0, last_only: bool = False):
            """Logits (batch, tokens or 1, vocab) for ``tokens`` at positions from ``start``."""
            t = tokens.shape[1]
            cos, sin = self.cos[start : start + t], self.sin[start : start + t]
            x = self.embed(tokens)
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, None if cache is None else cache[i], start)
            x = self.norm(x[:, -1:] if last_only else x)
            head = self.embed.weight if self.lm_head is None else self.lm_head.weight
            return F.linear(x, head)

    return Decoder


def decoder(cfg: LlamaConfig, positions: int) -> "torch.nn.Module":
    """A decoder for up to ``positions`` positions, on the current default device and dtype."""
    return _model_classes()(cfg, positions)


def new_cache(cfg: LlamaConfig, batch: int, length: int, device: Any, dtype: "torch.dtype") -> list:
    """An empty KV cache: per layer a (key, value) pair of shape (batch, kv_heads, length, head_dim)."""
    import torch

    shape = (batch, cfg.kv_heads, length, cfg.head_dim)
    return [
        (torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
        for _ in range(cfg.layers)
    ]


class _Llm(ModelWorkload):
    unit = "token"

    @property
    def config(self) -> LlamaConfig:
        return MODELS[self.settings["model"]]

    def _positions(self) -> int:
        return self.settings["seq_len"]

    def _check_shape(self) -> None:
        if self._positions() > self.config.max_positions:
            raise UsageError(
                f"{self._positions()} positions exceed {self.settings['model']}'s {self.config.max_positions}"
            )

    def _factory(self) -> "torch.nn.Module":
        self._check_shape()
        return decoder(self.config, self._positions())

    def _tokens(self, device: Any, length: int) -> "torch.Tensor":
        import torch

        return torch.randint(0, self.config.vocab, (self.settings["batch_size"], length), device=device)

    def _compile(self) -> dict[str, Any]:
        self.model, record = compile_or_eager(self.model, self._run)
        return record

    def _run(self, model: Any = None) -> None:
        raise NotImplementedError


class _LlmInference(_Llm):
    kind = "inference"
    dtypes = INFERENCE_DTYPES

    def _state_bytes(self) -> int:
        return tensor_bytes(*(t for pair in self.cache for t in pair))

    def _teardown_extra(self) -> None:
        self.cache = []


class LlmPrefill(_LlmInference):
    """Prompt processing: one step fills a fresh KV cache from ``batch_size`` x ``seq_len`` prompt tokens."""

    name = "llm-prefill"
    description = "Llama-style decoder prefill (fills the KV cache), unit = prompt token"
    presets = {
        "smoke": {"model": "llama-tiny", "batch_size": 2, "seq_len": 32, "dtype": "fp32"},
        "standard": {"model": "llama-3.1-8b", "batch_size": 8, "seq_len": 1024, "dtype": "bf16"},
        "1b": {"model": "llama-3.2-1b", "batch_size": 8, "seq_len": 1024, "dtype": "bf16"},
    }

    def _units(self) -> int:
        return self.settings["batch_size"] * self.settings["seq_len"]

    def _build(self, device: "torch.device") -> None:
        self._optimizations.update(inference_mode=True, sdpa=True)
        self.model = build_module(self._factory, device, self.dtype).eval()
        self.inputs = {"prompt": self._tokens(device, self.settings["seq_len"])}
        b, s = self.settings["batch_size"], self.settings["seq_len"]
        self.cache = new_cache(self.config, b, s, device, self.dtype)
        self.next_token: torch.Tensor | None = None
        self._step_fn = self._run

    def _run(self, model: Any = None) -> None:
        import torch

        with torch.inference_mode():
            logits = (self.model if model is None else model)(self.inputs["prompt"], self.cache, 0, last_only=True)
            self.next_token = logits[:, -1].argmax(-1, keepdim=True)

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch

        b, s = self.settings["batch_size"], self.settings["seq_len"]
        cache = new_cache(self.config, b, s, "meta", self.dtype)
        tokens = torch.zeros(b, s, dtype=torch.long, device="meta")

        def run() -> None:
            with torch.inference_mode():
                model(tokens, cache, 0, last_only=True)

        return count_flops(run)


class LlmDecode(_LlmInference):
    """Token generation: one step generates one token for each of ``batch_size`` sequences.

    Setup prefills the KV cache to ``seq_len`` (context) tokens; the cache holds ``seq_len +
    new_tokens`` positions and the position cycles back to ``seq_len`` when it is full.
    """

    name = "llm-decode"
    description = "Llama-style decoder generation with a KV cache, unit = generated token"
    presets = {
        "smoke": {"model": "llama-tiny", "batch_size": 2, "seq_len": 16, "new_tokens": 16, "dtype": "fp32"},
        "standard": {"model": "llama-3.1-8b", "batch_size": 64, "seq_len": 1024, "new_tokens": 256,
                     "dtype": "bf16"},
        "1b": {"model": "llama-3.2-1b", "batch_size": 64, "seq_len": 1024, "new_tokens": 256, "dtype": "bf16"},
    }
    prefill_tokens_per_chunk = 16384  # bounds the setup's activation memory

    def _positions(self) -> int:
        return self.settings["seq_len"] + self.settings["new_tokens"]

    def _units(self) -> int:
        return self.settings["batch_size"]

    def _build(self, device: "torch.device") -> None:
        import torch

        self._optimizations.update(inference_mode=True, sdpa=True)
        self.settings["cache_len"] = self._positions()
        self.model = build_module(self._factory, device, self.dtype).eval()
        b, s = self.settings["batch_size"], self.settings["seq_len"]
        self.inputs = {"prompt": self._tokens(device, s)}
        self.cache = new_cache(self.config, b, self._positions(), device, self.dtype)
        rows = max(1, self.prefill_tokens_per_chunk // s)
        firsts = []
        with torch.inference_mode():
            for r in range(0, b, rows):
                part = [(k[r : r + rows], v[r : r + rows]) for k, v in self.cache]
                logits = self.model(self.inputs["prompt"][r : r + rows], part, 0, last_only=True)
                firsts.append(logits[:, -1].argmax(-1, keepdim=True))
            self.next_token = torch.cat(firsts)
        self.position = s
        self._step_fn = self._run

    def _run(self, model: Any = None) -> None:
        import torch

        if self.position >= self._positions():
            self.position = self.settings["seq_len"]
        with torch.inference_mode():
            logits = (self.model if model is None else model)(self.next_token, self.cache, self.position)
            self.next_token = logits[:, -1].argmax(-1, keepdim=True)
        self.position += 1

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        """Mean FLOPs of a step over the cache cycle: attention grows linearly with the position,
        so the mean of the first and the last step of the cycle is the cycle's mean."""
        import torch

        b = self.settings["batch_size"]
        cache = new_cache(self.config, b, self._positions(), "meta", self.dtype)
        token = torch.zeros(b, 1, dtype=torch.long, device="meta")
        counts = []
        for start in (self.settings["seq_len"], self._positions() - 1):
            with torch.inference_mode():
                counts.append(count_flops(lambda: model(token, cache, start)))
        return round(sum(counts) / 2)


class LlmTrain(_Llm):
    """One training step of the decoder: next-token cross-entropy, backward, AdamW.

    bf16 runs as mixed precision (autocast, fp32 master weights and AdamW state). The standard
    preset uses the 1B shape: its weights, gradients and AdamW state (about 20 GB) plus activations
    fit one 40-80 GB accelerator without sharding; the 8B shape would need about 128 GB of state.
    """

    name = "llm-train"
    kind = "training"
    description = "Llama-style decoder training step (AdamW), unit = token"
    dtypes = TRAINING_DTYPES
    presets = {
        "smoke": {"model": "llama-tiny", "batch_size": 2, "seq_len": 32, "dtype": "fp32"},
        "standard": {"model": "llama-3.2-1b", "batch_size": 8, "seq_len": 1024, "dtype": "bf16"},
    }
    lr = 3e-4
    betas = (0.9, 0.95)
    weight_decay = 0.1

    @property
    def dtype(self) -> "torch.dtype":
        import torch

        return torch.float32  # master weights; bf16 compute comes from autocast

    def _units(self) -> int:
        return self.settings["batch_size"] * self.settings["seq_len"]

    def _build(self, device: "torch.device") -> None:
        self._optimizations.update(
            inference_mode=False, sdpa=True,
            autocast=self.settings["dtype"] if self.settings["dtype"] == "bf16" else None,
        )
        self.model = build_module(self._factory, device, self.dtype).train()
        self.optimizer, fused = make_optimizer(
            "adamw", self.model.parameters(), device, lr=self.lr, betas=self.betas,
            weight_decay=self.weight_decay,
        )
        self._optimizations["fused_optimizer"] = fused
        self._device = device
        self.inputs = {"tokens": self._tokens(device, self.settings["seq_len"] + 1)}
        self.loss: torch.Tensor | None = None
        self._step_fn = self._run

    def _loss(self, model: Any, tokens: "torch.Tensor") -> "torch.Tensor":
        import torch.nn.functional as F

        logits = model(tokens[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())

    def _run(self, model: Any = None) -> None:
        self.inputs["tokens"].random_(0, self.config.vocab)  # fresh tokens: nothing to memorise
        self.optimizer.zero_grad(set_to_none=True)
        with autocast_for(self._device, self.settings["dtype"]):
            loss = self._loss(self.model if model is None else model, self.inputs["tokens"])
        loss.backward()
        self.optimizer.step()
        self.loss = loss.detach()

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch

        tokens = torch.zeros(self.settings["batch_size"], self.settings["seq_len"] + 1, dtype=torch.long,
                             device="meta")
        return count_flops(lambda: self._loss(model.train(), tokens).backward())

    def _state_bytes(self) -> int:
        # gradients + AdamW's two moments, all in the master weights' dtype
        return 3 * tensor_bytes(*self.model.parameters())

    def _teardown_extra(self) -> None:
        self.optimizer = None
        self.loss = None
