"""Hugging Face transformers models as workloads (the optional extra ``bench[hf]``).

- ``hf-causal-prefill``: prompt processing through ``generate`` with a static KV cache: one step resets the
  cache and generates one token for ``batch_size`` prompts of ``seq_len`` tokens (the time to first token);
  unit = prompt token.
- ``hf-causal-decode``: token generation through ``generate`` with a static KV cache: set-up fills the cache
  with the prompt; one step generates ``new_tokens`` tokens for each of ``batch_size`` sequences, every forward
  pass one token long, then crops the cache back to the prompt; unit = generated token.
- ``hf-encoder``: one forward pass of an encoder (``AutoModel``: BERT, RoBERTa ...) over ``batch_size``
  sequences of ``seq_len`` tokens; unit = sample.

``--model`` names a hub id or a local folder. Weights and configurations come from the local Hugging Face cache
or the folder only (``local_files_only``): bench never downloads; a model that is not there stops the run with
one line saying how to fetch it. ``--random-weights`` builds the model from its configuration alone. Without
``--model`` the smoke presets build a tiny model of the same architecture (Llama, BERT) in code. Inputs are
random token ids (seeded); no tokenizer is needed.

FLOPs are counted as for the built-in workloads (:mod:`bench_workloads.common`): ``FlopCounterMode`` over the
model built on the ``meta`` device, for the forward passes one step runs (decode: one token against the full
static cache, which is what the device computes).
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_workloads.common import INFERENCE_DTYPES, ModelWorkload, build_module, count_flops, tensor_bytes

from bench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)

# tiny models of the same architectures, built in code for the smoke presets (random weights, no files)
TINY = {
    "llama": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 1024},
    "bert": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
             "vocab_size": 1024, "max_position_embeddings": 512},
}
EXTRA = "pip install 'bench[hf]'"


def require_transformers() -> None:
    """Raise :class:`UsageError` when transformers is not installed."""
    if importlib.util.find_spec("transformers") is None:
        raise UsageError(f"the hf-* workloads need transformers: {EXTRA}")


def fetch_hint(model: str) -> str:
    return (f"fetch it first (`hf download {model}`, with network) or pass a local folder; "
            "bench reads the local Hugging Face cache only")


def load_config(model: str | None, family: str) -> Any:
    """The configuration of ``model`` (hub id or folder, local files only), or the tiny ``family`` model's."""
    from transformers import AutoConfig

    if model is None:
        return AutoConfig.for_model(family, **TINY[family])
    if Path(model).expanduser().is_dir() and not (Path(model).expanduser() / "config.json").is_file():
        raise UsageError(f"model folder {model} has no config.json")
    try:
        return AutoConfig.from_pretrained(str(Path(model).expanduser()) if Path(model).expanduser().is_dir()
                                          else model, local_files_only=True)
    except (OSError, ValueError) as exc:
        if Path(model).expanduser().is_dir():
            raise UsageError(f"model folder {model}: {str(exc).splitlines()[0]}") from None
        raise UsageError(f"model {model!r} is not in the local Hugging Face cache; {fetch_hint(model)}") from None


def cache_keyword(model: Any) -> str:
    """The name the model's forward gives its KV cache argument (``cache`` in transformers 5, else
    ``past_key_values``)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class HfWorkload(ModelWorkload):
    """A transformers model: configuration and weights from the local cache or a folder, random inputs."""

    takes_model = True
    dtypes = INFERENCE_DTYPES
    kind = "inference"
    family = "llama"  # the architecture of the built-in tiny model

    def __init__(self, params: Any) -> None:
        require_transformers()
        super().__init__(params)
        if params.model is not None:
            self.settings["model"] = params.model
        self.settings["weights"] = "random" if (params.random_weights or self.settings.get("model") is None) \
            else "pretrained"
        self.config: Any = None
        if self.settings.get("model") is not None:
            self._resolve_config()  # a model that is not here stops the run before anything is written

    def auto_class(self) -> Any:
        raise NotImplementedError

    def _resolve_config(self) -> Any:
        if self.config is None:
            self.config = load_config(self.settings.get("model"), self.family)
            self.settings["model_type"] = self.config.model_type
            revision = getattr(self.config, "_commit_hash", None)
            if revision:
                self.settings["revision"] = revision
        return self.config

    def _factory(self) -> "torch.nn.Module":
        """The model from its configuration (random weights), on the current default device and dtype."""
        return self.auto_class().from_config(self._resolve_config())

    def _load(self, device: "torch.device") -> Any:
        """The model on ``device``: built from the configuration, or the local weights loaded."""
        config = self._resolve_config()
        if self.settings["weights"] == "random":
            model = build_module(self._factory, device, self.dtype)
        else:
            model_id = self.settings["model"]
            where = str(Path(model_id).expanduser()) if Path(model_id).expanduser().is_dir() else model_id
            try:
                model = self.auto_class().from_pretrained(where, config=config, local_files_only=True,
                                                          dtype=self.dtype)
            except (OSError, ValueError) as exc:
                if Path(model_id).expanduser().is_dir():
                    raise UsageError(f"model folder {model_id}: {str(exc).splitlines()[0]}; or add "
                                     "--random-weights to build it from its config") from None
                raise UsageError(f"no weights for model {model_id!r} in the local Hugging Face cache; "
                                 f"{fetch_hint(model_id)}, or add --random-weights") from None
            model = model.to(device)
        self._optimizations.update(inference_mode=True,
                                   attn_implementation=getattr(model.config, "_attn_implementation", None))
        return model.eval()

    def _check_positions(self, positions: int) -> None:
        limit = getattr(self._resolve_config(), "max_position_embeddings", None)
        if limit is not None and positions > limit:
            raise UsageError(f"{positions} positions exceed the model's {limit} (max_position_embeddings)")

    def _tokens(self, device: Any, length: int) -> "torch.Tensor":
        import torch

        vocab = self._resolve_config().vocab_size
        return torch.randint(0, vocab, (self.settings["batch_size"], length), device=device)


class HfCausalLm(HfWorkload):
    """Shared machinery of prefill and decode: ``generate`` greedily with a static KV cache."""

    unit = "token"

    def auto_class(self) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def _cache_len(self) -> int:
        raise NotImplementedError

    def _build(self, device: "torch.device") -> None:
        import torch
        from transformers import GenerationConfig, StaticCache

        self._check_positions(self._cache_len())
        self.model = self._load(device)
        self.keyword = cache_keyword(self.model)
        self.cache = StaticCache(config=self.model.config, max_cache_len=self._cache_len())
        self.inputs = {"prompt": self._tokens(device, self.settings["seq_len"])}
        self.inputs["attention_mask"] = torch.ones_like(self.inputs["prompt"])
        pad = self.model.config.pad_token_id
        self.model.generation_config = GenerationConfig(
            do_sample=False, use_cache=True, pad_token_id=0 if pad is None else pad,
            eos_token_id=self.model.config.eos_token_id)
        self._optimizations.update(static_kv_cache=True, generate=True)
        self.settings["cache_len"] = self._cache_len()
        self._step_fn = self._run

    def _generate(self, new_tokens: int) -> "torch.Tensor":
        import torch

        with torch.inference_mode():
            return self.model.generate(self.inputs["prompt"], attention_mask=self.inputs["attention_mask"],
                                       max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       **{self.keyword: self.cache})

    def _state_bytes(self) -> int:
        tensors = []
        for layer in getattr(self.cache, "layers", []):
            tensors += [t for t in (getattr(layer, "keys", None), getattr(layer, "values", None)) if t is not None]
        return tensor_bytes(*tensors)

    def _teardown_extra(self) -> None:
        self.cache = None

    def _meta_forward_flops(self, model: "torch.nn.Module", tokens: int, start: int) -> int:
        """FLOPs of one forward pass of ``tokens`` tokens at position ``start`` against the static cache."""
        import torch
        from transformers import StaticCache

        b = self.settings["batch_size"]
        cache = StaticCache(config=model.config, max_cache_len=self._cache_len())
        ids = torch.zeros(b, tokens, dtype=torch.long, device="meta")
        positions = torch.arange(start, start + tokens, device="meta")
        keyword = cache_keyword(model)

        def run() -> None:
            with torch.inference_mode():
                model(input_ids=ids, use_cache=True, logits_to_keep=1, cache_position=positions,
                      **{keyword: cache})

        return count_flops(run)


class HfCausalPrefill(HfCausalLm):
    """Prompt processing: one step resets the static cache and generates one token for each prompt."""

    name = "hf-causal-prefill"
    description = "Hugging Face causal LM prefill through generate with a static KV cache, unit = prompt token"
    presets = {
        "smoke": {"model": None, "batch_size": 2, "seq_len": 32, "dtype": "fp32"},
        "standard": {"model": "meta-llama/Llama-3.1-8B", "batch_size": 8, "seq_len": 1024, "dtype": "bf16"},
    }

    def _cache_len(self) -> int:
        return self.settings["seq_len"] + 1

    def _units(self) -> int:
        return self.settings["batch_size"] * self.settings["seq_len"]

    def _run(self, model: Any = None) -> None:
        import torch

        with torch.inference_mode():
            self.cache.reset()
        self.next_token = self._generate(1)[:, -1:]

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        return self._meta_forward_flops(model, self.settings["seq_len"], 0)


class HfCausalDecode(HfCausalLm):
    """Generation: one step generates ``new_tokens`` tokens per sequence after the cached prompt, one token per
    forward pass, and crops the cache back to the prompt, so every step does the same work."""

    name = "hf-causal-decode"
    description = "Hugging Face causal LM decode through generate with a static KV cache, unit = generated token"
    presets = {
        "smoke": {"model": None, "batch_size": 2, "seq_len": 16, "new_tokens": 8, "dtype": "fp32"},
        "standard": {"model": "meta-llama/Llama-3.1-8B", "batch_size": 64, "seq_len": 1024, "new_tokens": 32,
                     "dtype": "bf16"},
    }

    def _cache_len(self) -> int:
        return self.settings["seq_len"] + self.settings["new_tokens"]

    def _units(self) -> int:
        return self.settings["batch_size"] * self.settings["new_tokens"]

    def _build(self, device: "torch.device") -> None:
        import torch

        if self.settings["seq_len"] < 2:
            raise UsageError("hf-causal-decode needs a prompt of at least 2 tokens (--seq-len)")
        super()._build(device)
        self._generate(1)  # prefill: the cache holds the prompt
        with torch.inference_mode():
            self.cache.crop(-1)  # keep seq_len - 1 positions: each step's first pass is the prompt's last token

    def _run(self, model: Any = None) -> None:
        import torch

        k = self.settings["new_tokens"]
        self.generated = self._generate(k)
        with torch.inference_mode():
            self.cache.crop(-k)  # k positions were written: back to the prompt

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        """``new_tokens`` one-token passes, each attending over the whole static cache."""
        return self.settings["new_tokens"] * self._meta_forward_flops(model, 1, self.settings["seq_len"] - 1)


class HfEncoder(HfWorkload):
    """An encoder's forward pass (``AutoModel``: hidden states) over a batch of sequences."""

    name = "hf-encoder"
    unit = "sample"
    family = "bert"
    description = "Hugging Face encoder forward pass (BERT-style, AutoModel), unit = sample"
    presets = {
        "smoke": {"model": None, "batch_size": 2, "seq_len": 32, "dtype": "fp32"},
        "standard": {"model": "google-bert/bert-base-uncased", "batch_size": 32, "seq_len": 384, "dtype": "bf16"},
    }

    def auto_class(self) -> Any:
        from transformers import AutoModel

        return AutoModel

    def _units(self) -> int:
        return self.settings["batch_size"]

    def _build(self, device: "torch.device") -> None:
        import torch

        self._check_positions(self.settings["seq_len"])
        self.model = self._load(device)
        ids = self._tokens(device, self.settings["seq_len"])
        self.inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        self._step_fn = self._run

    def _run(self, model: Any = None) -> None:
        import torch

        with torch.inference_mode():
            self.output = (self.model if model is None else model)(**self.inputs).last_hidden_state

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch

        # an all-ones mask changes nothing; on meta the mask check cannot read values, so it is left out
        ids = torch.zeros(self.settings["batch_size"], self.settings["seq_len"], dtype=torch.long, device="meta")

        def run() -> None:
            with torch.inference_mode():
                model(input_ids=ids)

        return count_flops(run)

    def _teardown_extra(self) -> None:
        self.output = None
