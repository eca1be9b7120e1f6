"""The Hugging Face workloads: tiny models built or saved in code, no network, no download."""

import json

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from bench.devices import open_device  # noqa: E402
from bench.result.io import load_result  # noqa: E402
from bench.run.workloads import make_workload  # noqa: E402
from bench.workload import WorkloadParams  # noqa: E402
from tests.support.harness import run_bench  # noqa: E402

QUICK = ["--idle", "0.2", "--duration", "0.3", "--repeats", "2", "--warmup-min", "0.1", "--warmup-max", "0.3",
         "--latency", "0.2", "--quiet"]
H, INTER, LAYERS, VOCAB = 64, 192, 2, 1024  # the built-in tiny models (smoke presets)


def tiny_llama_folder(path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(7)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=128, max_position_embeddings=128)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    return model


def tiny_bert_folder(path):
    from transformers import BertConfig, BertModel

    torch.manual_seed(7)
    model = BertModel(BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 vocab_size=128, max_position_embeddings=64))
    model.save_pretrained(path)
    return model


def linear_params_llama(h, inter, layers, heads=4, kv_heads=2):
    d = h // heads
    return layers * (2 * h * h + 2 * h * kv_heads * d + 3 * h * inter)


def test_flops_are_counted_like_the_built_ins():
    cpu = open_device("cpu")
    lin = 2 * linear_params_llama(H, INTER, LAYERS)
    attn_per_key = 2 * 2 * H * LAYERS  # scores and values: 2 matmuls, 2 FLOPs a multiply-add, every layer

    pre = make_workload("hf-causal-prefill", WorkloadParams(), cpu)  # batch 2, 32 tokens
    info = pre.setup(cpu)
    pre.teardown()
    assert info.units_per_step == 2 * 32
    # per prompt token: the linear layers, attention over the prompt, the output layer for the last token only
    assert info.flops_per_unit == lin + attn_per_key * 32 + 2 * H * VOCAB / 32

    dec = make_workload("hf-causal-decode", WorkloadParams(), cpu)  # batch 2, prompt 16, 8 new tokens
    info = dec.setup(cpu)
    dec.teardown()
    assert info.units_per_step == 2 * 8
    # per generated token: one token through every layer, attention over the whole static cache (16 + 8)
    assert info.flops_per_unit == lin + attn_per_key * 24 + 2 * H * VOCAB

    enc = make_workload("hf-encoder", WorkloadParams(), cpu)  # batch 2, 32 tokens
    info = enc.setup(cpu)
    enc.teardown()
    per_token = 2 * LAYERS * (4 * H * H + 2 * H * INTER) + attn_per_key * 32
    assert info.flops_per_unit == 32 * per_token + 2 * H * H  # + the pooler, once per sample


def test_decode_steps_generate_what_a_fresh_generate_does(tmp_path):
    """The static cache is cropped back after every step: each step continues the same prompt correctly."""
    model = tiny_llama_folder(tmp_path / "llama").eval()
    cpu = open_device("cpu")
    wl = make_workload("hf-causal-decode", WorkloadParams(model=str(tmp_path / "llama")), cpu)
    wl.setup(cpu)
    assert wl.settings["weights"] == "pretrained" and wl.settings["model_type"] == "llama"
    prompt = wl.inputs["prompt"]
    with torch.inference_mode():
        expected = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                  max_new_tokens=8, min_new_tokens=8, pad_token_id=0)
    for _ in range(3):
        wl.step()
        assert torch.equal(wl.generated, expected)
    wl.teardown()


def test_weights_come_from_the_folder_or_from_the_config_alone(tmp_path):
    saved = tiny_bert_folder(tmp_path / "bert")
    cpu = open_device("cpu")
    pre = make_workload("hf-encoder", WorkloadParams(model=str(tmp_path / "bert")), cpu)
    pre.setup(cpu)
    assert torch.equal(pre.model.embeddings.word_embeddings.weight, saved.embeddings.word_embeddings.weight)
    pre.teardown()
    rnd = make_workload("hf-encoder", WorkloadParams(model=str(tmp_path / "bert"), random_weights=True), cpu)
    rnd.setup(cpu)
    assert rnd.settings["weights"] == "random"
    assert rnd.model.config.hidden_size == 32  # the folder's configuration ...
    assert not torch.equal(rnd.model.embeddings.word_embeddings.weight, saved.embeddings.word_embeddings.weight)
    rnd.teardown()
    (tmp_path / "cfg-only").mkdir()
    (tmp_path / "cfg-only" / "config.json").write_text((tmp_path / "bert" / "config.json").read_text())
    from bench.errors import UsageError

    with pytest.raises(UsageError, match="--random-weights"):
        make_workload("hf-encoder", WorkloadParams(model=str(tmp_path / "cfg-only")), cpu).setup(cpu)


def test_bench_run_with_a_local_folder_and_latency(cli, tmp_path):
    tiny_llama_folder(tmp_path / "llama")
    res = cli("run", "--device", "cpu", "--workload", "hf-causal-prefill", "--workload", "hf-causal-decode",
              "--model", str(tmp_path / "llama"), *QUICK, "--out", str(tmp_path), "--name", "hf")
    assert res.code == 0, res.output
    r = load_result(tmp_path / "hf")
    for name in ("hf-causal-prefill", "hf-causal-decode"):
        wl = r.workload(name)
        assert wl.status == "complete" and wl.unit == "token"
        assert wl.settings["model"] == str(tmp_path / "llama") and wl.settings["weights"] == "pretrained"
        assert wl.latency.method == "synchronized" and wl.latency.p50_s > 0
        assert wl.optimizations["static_kv_cache"] is True
    assert r.config["workloads"][0]["model"] == str(tmp_path / "llama")


def test_a_hub_model_not_in_the_cache_is_a_one_line_error_and_nothing_is_downloaded(tmp_path):
    """In a fresh process with an empty cache: the error names the model and how to fetch it; the cache stays
    empty (bench reads local files only)."""
    env = {"HF_HOME": str(tmp_path / "hf-home")}
    proc = run_bench("run", "--device", "cpu", "--workload", "hf-encoder", "--model", "acme/never-seen",
                     "--random-weights", *QUICK, "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'acme/never-seen' is not in the local Hugging Face cache" in lines[0]
    assert "hf download acme/never-seen" in lines[0]
    hub = tmp_path / "hf-home" / "hub"
    assert not hub.exists() or not any(hub.rglob("*.json"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_model_options_apply_to_hf_workloads_only(cli, tmp_path):
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--model", "x", "--out", str(tmp_path))
    assert res.code != 0 and "takes no model" in res.err


def test_result_records_the_model(cli, tmp_path):
    tiny_bert_folder(tmp_path / "bert")
    res = cli("run", "--device", "cpu", "--workload", "hf-encoder", "--model", str(tmp_path / "bert"),
              "--random-weights", *QUICK, "--out", str(tmp_path), "--name", "enc", "--json")
    assert res.code == 0, res.output
    wl = json.loads(res.out)["workloads"][0]
    assert wl["unit"] == "sample" and wl["settings"]["weights"] == "random"
    assert wl["params"]["random_weights"] is True
