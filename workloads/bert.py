"""BERT-base question answering inference (the MLPerf SQuAD task's shape), unit = one sample.

A BERT encoder in plain torch: word, position and token-type embeddings with LayerNorm, then post-norm
layers of multi-head self-attention (through ``scaled_dot_product_attention``, so the device's best
kernel runs) and a GELU feed-forward block, then a span head giving start and end logits per token
(as ``BertForQuestionAnswering``: no pooler). BERT-base: 12 layers, hidden 768, 12 heads,
intermediate 3072, vocabulary 30522, 512 positions, 2 token types: 108,893,186 parameters. Samples
are synthetic: random token ids over the full sequence (no padding), a question segment (type 0,
the first 64 tokens) followed by the context segment (type 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_workloads.common import (
    INFERENCE_DTYPES,
    ModelWorkload,
    build_module,
    compile_or_eager,
    count_flops,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

QUESTION_TOKENS = 64  # MLPerf's SQuAD setting: max query length 64 of the 384 tokens


@dataclass(frozen=True)
class BertConfig:
    """Shape of a BERT encoder."""

    vocab: int = 30522
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12


MODELS = {
    # Devlin et al. 2019, "BERT", table of model sizes; google-research/bert bert_config.json (uncased base)
    "bert-base": BertConfig(),
    # same architecture, tiny widths and depth: for the smoke preset
    "bert-tiny": BertConfig(hidden=128, layers=2, heads=2, intermediate=512, max_positions=128),
}


def _model_classes():
    """Define the modules on first use, so importing this file does not import torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, cfg: BertConfig) -> None:
            super().__init__()
            self.heads = cfg.heads
            self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)  # Q, K and V in one matmul
            self.out = nn.Linear(cfg.hidden, cfg.hidden)
            self.norm1 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
            self.ff1 = nn.Linear(cfg.hidden, cfg.intermediate)
            self.ff2 = nn.Linear(cfg.intermediate, cfg.hidden)
            self.norm2 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, s, h = x.shape
            q, k, v = self.qkv(x).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, h)
            x = self.norm1(x + self.out(a))
            return self.norm2(x + self.ff2(F.gelu(self.ff1(x))))

    class BertForQA(nn.Module):
        def __init__(self, cfg: BertConfig) -> None:
            super().__init__()
            self.words = nn.Embedding(cfg.vocab, cfg.hidden)
            self.positions = nn.Embedding(cfg.max_positions, cfg.hidden)
            self.token_types = nn.Embedding(cfg.type_vocab, cfg.hidden)
            self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
            self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
            self.qa = nn.Linear(cfg.hidden, 2)
            self.register_buffer("position_ids", torch.arange(cfg.max_positions), persistent=False)
            for m in self.modules():  # BERT's initialiser: N(0, 0.02), zero biases
                if isinstance(m, (nn.Linear, nn.Embedding)) and not m.weight.is_meta:
                    nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

        def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor):
            pos = self.position_ids[: input_ids.shape[1]]
            x = self.words(input_ids) + self.positions(pos) + self.token_types(token_type_ids)
            x = self.norm(x)
            for layer in self.layers:
                x = layer(x)
            start, end = self.qa(x).unbind(-1)
            return start, end

    return BertForQA


def bert_qa(cfg: BertConfig) -> "torch.nn.Module":
    """A BERT question-answering model on the current default device and dtype."""
    return _model_classes()(cfg)


class BertInfer(ModelWorkload):
    """BERT-base SQuAD-style inference: one step answers ``batch_size`` sequences of ``seq_len`` tokens."""

    name = "bert-infer"
    kind = "inference"
    unit = "sample"
    description = "BERT-base question answering (SQuAD shape), seq len 384, unit = sample"
    dtypes = INFERENCE_DTYPES
    presets = {
        "smoke": {"model": "bert-tiny", "batch_size": 2, "seq_len": 32, "dtype": "fp32"},
        "standard": {"model": "bert-base", "batch_size": 32, "seq_len": 384, "dtype": "bf16"},
    }

    @property
    def config(self) -> BertConfig:
        return MODELS[self.settings["model"]]

    def _check_shape(self) -> None:
        from bench.errors import UsageError

        if self.settings["seq_len"] > self.config.max_positions:
            raise UsageError(
                f"seq_len {self.settings['seq_len']} exceeds {self.settings['model']}'s "
                f"{self.config.max_positions} positions"
            )

    def _factory(self) -> "torch.nn.Module":
        return bert_qa(self.config)

    def _units(self) -> int:
        return self.settings["batch_size"]

    def _token_types(self, device: Any) -> "torch.Tensor":
        import torch

        b, s = self.settings["batch_size"], self.settings["seq_len"]
        types = torch.ones(b, s, dtype=torch.long, device=device)
        types[:, : min(QUESTION_TOKENS, s // 2)] = 0
        return types

    def _build(self, device: "torch.device") -> None:
        import torch

        self._check_shape()
        self._optimizations.update(inference_mode=True, sdpa=True)
        self.model = build_module(self._factory, device, self.dtype).eval()
        b, s = self.settings["batch_size"], self.settings["seq_len"]
        ids = torch.randint(0, self.config.vocab, (b, s), device=device)
        self.inputs = {"input_ids": ids, "token_type_ids": self._token_types(device)}
        self._step_fn = self._forward

    def _forward(self, model: Any = None) -> None:
        import torch

        with torch.inference_mode():
            (self.model if model is None else model)(self.inputs["input_ids"], self.inputs["token_type_ids"])

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch

        self._check_shape()
        b, s = self.settings["batch_size"], self.settings["seq_len"]
        ids = torch.zeros(b, s, dtype=torch.long, device="meta")
        types = self._token_types("meta")

        def run() -> None:
            with torch.inference_mode():
                model.eval()(ids, types)

        return count_flops(run)

    def _compile(self) -> dict[str, Any]:
        self.model, record = compile_or_eager(self.model, self._forward)
        return record
