"""`--json` on every command that reports something: the output is one JSON document holding what the text says."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.result.integrity import check_folder
from tests.factories import write_result_folder


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("json") / "acme-x1", [0.5, 0.51, 0.49], device="Acme X1")


def test_list_json_holds_every_listing(cli):
    res = cli("list", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert list(data) == ["workloads", "samplers", "devices", "profiles", "standards"]
    workloads = {w["name"]: w for w in data["workloads"]}
    assert workloads["gemm"]["unit"] == "matmul" and "smoke" in workloads["gemm"]["presets"]
    samplers = {s["name"]: s for s in data["samplers"]}
    assert samplers["estimate"]["available"] is True and samplers["nvml"]["available"] is False
    assert samplers["nvml"]["reason"]
    devices = {d["type"]: d for d in data["devices"]}
    assert devices["cpu"]["present"] == ["cpu"] and "present" in devices["cuda"]
    assert any(p["id"] == "nvidia-h100-sxm" and p["rated_power_w"] == 700 for p in data["profiles"])
    assert sum(1 for s in data["standards"] if s["default"]) == 1


@pytest.mark.parametrize("args", [["list", "standards", "--json"], ["list", "--json", "standards"]])
def test_each_listing_alone(cli, args):
    res = cli(*args)
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert isinstance(rows, list) and {"id", "sha256", "workloads"} <= set(rows[0])


def test_keygen_sign_export_import_in_json(cli, sealed, tmp_path):
    res = cli("keygen", "-o", str(tmp_path / "key"), "--json")
    assert res.code == 0, res.err
    key = json.loads(res.out)
    assert key["private_key"] == str(tmp_path / "key") and key["public_key"] == str(tmp_path / "key.pub")
    assert len(key["fingerprint"]) >= 8

    run = shutil.copytree(sealed, tmp_path / "runs" / "acme-x1")
    res = cli("sign", str(run), str(tmp_path / "missing"), "-k", key["private_key"], "--json")
    assert res.code == 1  # one input was not there: still reported in the JSON
    signed = json.loads(res.out)
    assert [s["path"] for s in signed["signed"]] == [str(run)]
    assert signed["signed"][0]["key_fingerprint"] == key["fingerprint"] == check_folder(run).key_fingerprint
    assert signed["refused"][0]["path"] == str(tmp_path / "missing")

    bundle = tmp_path / "sub.tar.gz"
    res = cli("export", str(run), "-o", str(bundle), "-k", key["private_key"], "--json")
    assert res.code == 0, res.err
    exported = json.loads(res.out)
    assert exported == {"path": str(bundle), "results": ["acme-x1"], "signer": key["fingerprint"], "refused": []}

    for attempt in ("first", "again"):
        res = cli("import", str(bundle), "-o", str(tmp_path / "in"), "--json")
        assert res.code == 0, res.err
        got = json.loads(res.out)
        where = [str(tmp_path / "in" / "acme-x1")]
        assert (got["imported"], got["identical"]) == ((where, []) if attempt == "first" else ([], where))
        assert got["refused"] == [] and got["signer"] == key["fingerprint"]


def test_report_json(cli, sealed, tmp_path):
    res = cli("report", str(sealed), str(tmp_path / "missing"), "-o", str(tmp_path / "r.html"), "--no-traces",
              "--json")
    assert res.code == 1  # a skipped input
    data = json.loads(res.out)
    assert data["path"] == str(tmp_path / "r.html") and data["results"] == 1 and data["rows"] == 1
    assert data["size_bytes"] == (tmp_path / "r.html").stat().st_size > 0
    assert data["skipped"][0]["path"] == str(tmp_path / "missing") and data["skipped"][0]["reason"]
