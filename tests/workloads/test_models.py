"""The model workloads (ResNet-50, BERT, Llama-style decoder): smoke runs on the CPU, FLOPs against
closed-form counts, published parameter counts on the meta device, determinism, training, the
bounded decode cache, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from bench_workloads.bert import MODELS as BERT_MODELS
from bench_workloads.bert import BertInfer
from bench_workloads.llm import MODELS as LLM_MODELS
from bench_workloads.llm import LlamaConfig, LlmDecode, LlmPrefill, LlmTrain
from bench_workloads.resnet import ResNet50Infer, ResNet50Train

from bench.devices.cpu import CpuBackend
from bench.errors import UsageError
from bench.workload import WorkloadParams

ALL = (ResNet50Infer, ResNet50Train, BertInfer, LlmPrefill, LlmDecode, LlmTrain)
CPU = CpuBackend(None)


def setup(cls, **kw):
    wl = cls(WorkloadParams(**kw))
    return wl, wl.setup(CPU)


_SHARED: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _teardown_shared():
    """Tear the shared workloads down at the end and restore torch's global fp32 precision flags
    (setup sets them; tests that skip teardown would otherwise leave them to later test files)."""
    saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    yield
    for wl, _ in _SHARED.values():
        wl.teardown()
    _SHARED.clear()
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]


def shared(cls):
    """The smoke preset of ``cls`` set up once for the tests that only read it (setup is the slow part)."""
    if cls not in _SHARED:
        _SHARED[cls] = setup(cls)
    return _SHARED[cls]


# --- independent closed-form FLOP counts (2 FLOPs per multiply-add) --------------------------------


def resnet50_forward_flops(size: int) -> int:
    """Convolutions and the classifier of ResNet-50 v1.5 at ``size`` x ``size``, from the layer table."""

    def conv(cin: int, cout: int, k: int, stride: int, h: int, pad: int) -> tuple[int, int]:
        ho = (h + 2 * pad - k) // stride + 1
        return 2 * cin * cout * k * k * ho * ho, ho

    flops, h = conv(3, 64, 7, 2, size, 3)
    h = (h + 2 - 3) // 2 + 1  # 3x3/2 max pool
    cin = 64
    for i, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for j in range(blocks):
            stride = 2 if (j == 0 and i > 0) else 1
            a, _ = conv(cin, width, 1, 1, h, 0)
            b, h2 = conv(width, width, 3, stride, h, 1)  # v1.5: the stride is in the 3x3
            c, _ = conv(width, 4 * width, 1, 1, h2, 0)
            flops += a + b + c + (conv(cin, 4 * width, 1, stride, h, 0)[0] if j == 0 else 0)
            cin, h = 4 * width, h2
    return flops + 2 * 2048 * 1000


def bert_flops_per_sample(cfg, seq: int) -> int:
    per_token = cfg.layers * (2 * (4 * cfg.hidden**2 + 2 * cfg.hidden * cfg.intermediate) + 4 * seq * cfg.hidden)
    return (per_token + 2 * cfg.hidden * 2) * seq


def decoder_flops_per_token(cfg: LlamaConfig, keys: float, head_fraction: float) -> float:
    """2 x (non-embedding matmul weights) + dense attention over ``keys`` + the output head."""
    d = cfg.head_dim
    weights = cfg.hidden * ((cfg.heads + 2 * cfg.kv_heads) * d + cfg.heads * d + 3 * cfg.intermediate)
    attention = 4 * cfg.heads * d * keys
    return cfg.layers * (2 * weights + attention) + 2 * cfg.hidden * cfg.vocab * head_fraction


def close(a: float, b: float, rel: float = 0.02) -> bool:
    return abs(a - b) <= rel * abs(b)


# --- every smoke preset on the CPU ----------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_smoke_preset_sets_up_and_steps_on_cpu(cls):
    fresh = cls in (BertInfer, LlmDecode)  # these two are cheap: set up anew and torn down here
    wl, info = setup(cls) if fresh else shared(cls)
    wl.step()
    wl.step()
    assert info.unit == cls.unit and info.units_per_step >= 1
    assert info.flops_per_unit > 0 and info.parameters > 0
    assert info.memory_bytes >= 4 * info.parameters  # fp32 weights at least
    assert info.settings["dtype"] == "fp32" and info.optimizations["compile"] is False
    assert info.optimizations["inference_mode"] is (cls.kind == "inference")
    assert "tf32" in info.optimizations
    if fresh:
        wl.teardown()
        assert wl.model is None and wl.inputs == {}


def test_resnet_flops_match_the_layer_table_and_the_literature():
    _, info = shared(ResNet50Infer)
    assert close(info.flops_per_unit, resnet50_forward_flops(64))
    per_image = ResNet50Infer(WorkloadParams(preset="standard")).meta_counts()["flops_per_step"] / 64
    assert close(per_image, resnet50_forward_flops(224))
    assert close(per_image, 2 * 4.089e9)  # 4.089 GMACs per 224x224 image (torchvision's table)


def test_resnet_training_counts_forward_and_backward():
    _, info = shared(ResNet50Train)
    fwd = resnet50_forward_flops(64)
    stem = 2 * 3 * 64 * 49 * 32 * 32  # the stem needs no input gradient (images are not trained)
    assert close(info.flops_per_unit, 3 * fwd - stem)
    assert info.optimizations["channels_last"] is False  # only where it helps (CUDA)


def test_bert_flops_match_closed_form():
    _, info = shared(BertInfer)
    assert close(info.flops_per_unit, bert_flops_per_sample(BERT_MODELS["bert-tiny"], 32))
    std = BertInfer(WorkloadParams(preset="standard")).meta_counts()["flops_per_step"] / 32
    assert close(std, bert_flops_per_sample(BERT_MODELS["bert-base"], 384))
    assert 70e9 < std < 71.5e9


def test_decoder_flops_match_closed_form():
    tiny = LLM_MODELS["llama-tiny"]
    _, pre = shared(LlmPrefill)  # 32-token prompts; logits only for the last token
    assert close(pre.flops_per_unit, decoder_flops_per_token(tiny, 32, 1 / 32))
    _, dec = setup(LlmDecode)  # keys cycle over 17..32: mean 24.5
    assert close(dec.flops_per_unit, decoder_flops_per_token(tiny, 16 + 17 / 2, 1.0))
    _, train = shared(LlmTrain)
    assert close(train.flops_per_unit, 3 * decoder_flops_per_token(tiny, 32, 1.0))


def test_decoder_flops_at_published_sizes():
    cfg8 = LLM_MODELS["llama-3.1-8b"]
    pre = LlmPrefill(WorkloadParams(preset="standard")).meta_counts()["flops_per_step"] / (8 * 1024)
    assert close(pre, decoder_flops_per_token(cfg8, 1024, 1 / 1024))
    # the bulk is 2 x the 6.98 B non-embedding weights per token
    assert close(pre, 2 * 6.98e9, rel=0.05)
    dec = LlmDecode(WorkloadParams(preset="standard")).meta_counts()["flops_per_step"] / 64
    assert close(dec, decoder_flops_per_token(cfg8, 1024 + 257 / 2, 1.0))
    cfg1 = LLM_MODELS["llama-3.2-1b"]
    train = LlmTrain(WorkloadParams(preset="standard")).meta_counts()["flops_per_step"] / (8 * 1024)
    assert close(train, 3 * decoder_flops_per_token(cfg1, 1024, 1.0))


# --- published parameter counts, on the meta device ---------------------------------------------


@pytest.mark.parametrize(
    "cls,preset,expected",
    [
        (ResNet50Infer, "standard", 25_557_032),
        (ResNet50Train, "standard", 25_557_032),
        (BertInfer, "standard", 108_893_186),  # BERT-base encoder + span head, no pooler
        (LlmPrefill, "1b", 1_235_814_400),  # Llama 3.2 1B
        (LlmTrain, "standard", 1_235_814_400),
        (LlmPrefill, "standard", 8_030_261_248),  # Llama 3.1 8B
        (LlmDecode, "standard", 8_030_261_248),
    ],
)
def test_standard_parameter_counts(cls, preset, expected):
    assert cls(WorkloadParams(preset=preset)).meta_counts()["parameters"] == expected


def test_smoke_resnet_is_the_full_resnet50():
    _, info = shared(ResNet50Infer)
    assert info.parameters == 25_557_032


# --- determinism ------------------------------------------------------------------------------


def _snapshot(wl):
    return [t.clone() for t in wl.model.state_dict().values()], [t.clone() for t in wl.inputs.values()]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("cls", (ResNet50Infer, BertInfer, LlmPrefill), ids=lambda c: c.name)
def test_same_seed_same_weights_and_inputs(cls):
    a, _ = shared(cls)  # seed 0
    b, _ = setup(cls, seed=0)
    c, _ = setup(cls, seed=1)
    (wa, ia), (wb, ib), (wc, ic) = _snapshot(a), _snapshot(b), _snapshot(c)
    assert _same(wa, wb) and _same(ia, ib)
    assert not _same(wa, wc) and not _same(ia, ic)


# --- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", (ResNet50Train, LlmTrain), ids=lambda c: c.name)
def test_training_step_changes_weights_and_loss_is_finite(cls):
    wl, info = shared(cls)
    before = [p.detach().clone() for p in wl.model.parameters()]
    wl.step()
    first = wl.loss.item()
    wl.step()
    changed = sum(not torch.equal(p0, p) for p0, p in zip(before, wl.model.parameters()))
    assert changed >= 0.9 * len(before)
    assert torch.isfinite(wl.loss) and first > 0
    # grads + optimiser state counted: SGD momentum = 1 buffer, AdamW = 2 moments
    slots = 2 if cls is ResNet50Train else 3
    assert info.memory_bytes >= (1 + slots) * 4 * info.parameters


def test_llm_train_bf16_runs_as_mixed_precision_on_cpu():
    wl, info = setup(LlmTrain, dtype="bf16")
    wl.step()
    assert info.optimizations["autocast"] == "bf16"
    assert next(wl.model.parameters()).dtype == torch.float32 and torch.isfinite(wl.loss)


# --- decode: bounded cache and correctness ------------------------------------------------------


def test_decode_cache_stays_bounded_and_cycles():
    wl, info = setup(LlmDecode)
    s, n = wl.settings["seq_len"], wl.settings["new_tokens"]
    assert info.units_per_step == 2 and info.settings["cache_len"] == s + n
    ptrs = [k.data_ptr() for k, _ in wl.cache]
    positions = []
    for _ in range(3 * n + 5):
        wl.step()
        positions.append(wl.position)
    assert min(positions) == s + 1 and max(positions) == s + n
    assert positions.count(s + 1) == 4  # wrapped back to the context three times
    assert [k.data_ptr() for k, _ in wl.cache] == ptrs
    assert all(k.shape == (2, 2, s + n, 32) for k, _ in wl.cache)
    assert wl.next_token.shape == (2, 1) and wl.next_token.dtype == torch.long
    cache_bytes = 2 * 2 * (2 * 2 * (s + n) * 32) * 4  # layers x (k, v) x elements x fp32
    weights = sum(t.numel() * 4 for t in [*wl.model.parameters(), *wl.model.buffers()])
    assert info.memory_bytes == weights + cache_bytes + 2 * s * 8


def test_decode_with_cache_matches_a_full_forward():
    wl, _ = setup(LlmDecode)
    prompt, s = wl.inputs["prompt"], wl.settings["seq_len"]
    token = wl.next_token.clone()
    with torch.inference_mode():
        full = wl.model(torch.cat([prompt, token], 1))  # no cache: every position from scratch
        wl.step()  # consumes `token` at position s through the cache
        cached = wl.model(token, wl.cache, s)  # the same position again, to read its logits
    assert torch.equal(full[:, -2].argmax(-1, keepdim=True), token)  # the prefill's pick
    assert torch.allclose(cached[:, -1], full[:, -1], atol=1e-4, rtol=1e-4)
    assert torch.equal(wl.next_token, full[:, -1].argmax(-1, keepdim=True))


def test_decode_bf16_on_cpu_produces_tokens():
    wl, info = setup(LlmDecode, dtype="bf16")
    for _ in range(3):
        wl.step()
    assert next(wl.model.parameters()).dtype == torch.bfloat16
    assert int(wl.next_token.max()) < LLM_MODELS["llama-tiny"].vocab


# --- bad input --------------------------------------------------------------------------------


def test_unknown_preset_is_a_usage_error():
    with pytest.raises(UsageError, match="no preset 'huge'"):
        BertInfer(WorkloadParams(preset="huge"))


@pytest.mark.parametrize("cls,dtype", [(ResNet50Infer, "fp8"), (ResNet50Train, "fp16"), (LlmTrain, "fp16")])
def test_unsupported_dtype_is_a_usage_error(cls, dtype):
    with pytest.raises(UsageError, match="does not support dtype"):
        cls(WorkloadParams(dtype=dtype))


def test_dtype_the_device_cannot_run_is_a_usage_error():
    wl = LlmPrefill(WorkloadParams(dtype="tf32"))  # the CPU backend has no TF32
    with pytest.raises(UsageError, match="does not support dtype tf32"):
        wl.setup(CPU)

    class NoBf16(CpuBackend):
        def supports_dtype(self, dtype: str) -> bool:
            return dtype == "fp32"

    with pytest.raises(UsageError):
        BertInfer(WorkloadParams(dtype="bf16")).setup(NoBf16(None))


def test_too_long_sequence_is_a_usage_error():
    with pytest.raises(UsageError, match="exceeds"):
        BertInfer(WorkloadParams(seq_len=1000)).setup(CPU)


def test_overrides_apply_and_irrelevant_ones_are_dropped():
    wl = ResNet50Infer(WorkloadParams(batch_size=3, seq_len=128))
    assert wl.settings["batch_size"] == 3 and "seq_len" not in wl.settings
    dec = LlmDecode(WorkloadParams(seq_len=8, batch_size=1))
    assert (dec.settings["seq_len"], dec.settings["new_tokens"]) == (8, 16)


# --- compile fallback, registration, cheap import -------------------------------------------------


def test_compile_failure_falls_back_to_eager_and_says_why(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("no compiler for this backend\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    wl, info = setup(LlmPrefill, compile=True)
    wl.step()
    assert info.optimizations["compile"] is False
    assert info.optimizations["compile_error"] == "RuntimeError: no compiler for this backend"


def test_entry_points_resolve_to_these_classes():
    from bench import contracts

    for cls in ALL:
        assert contracts.load("workloads", cls.name) is cls
        assert {"smoke", "standard"} <= set(cls.presets)


def test_importing_the_workloads_does_not_import_torch():
    code = "import sys, bench_workloads.resnet, bench_workloads.bert, bench_workloads.llm; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
