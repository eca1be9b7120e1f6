"""The fixed corpus of known-dangerous inputs, and the builders that make them on disk (small, or sparse).

Results start from a sealed folder of :func:`tests.factories.write_result_folder`; a case either edits the JSON
text (a token no JSON writer emits: ``NaN``, ``1e309``, a lone surrogate) or edits the data and seals it again,
because anyone can recompute a digest: a sealed result is still untrusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Callable

ESC = "\x1b[31mRED\x1b[0m\x1b]0;owned\x07\r\x08"
MARKUP = "[/][bold red]loud[/bold red][link=file:///etc/passwd]x[/link]"
MATHTEXT = "$\\frac{$"
REDOS_NAME = "NVIDIA " + "A100 SXM " * 1000  # cubic for \bA100\b.*\bSXM\b.*\b80 ?GB\b: about a minute
DEEP = 100_000


# --- sealing (format 2 where the harness has it, else format 1: the same tests run on older code) ----------


def seal(folder: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as ``folder/result.json`` with a digest recomputed over it (and the harness's layout)."""
    from bench.result import io as rio

    data = {k: v for k, v in data.items() if k != "integrity"}
    if hasattr(rio, "covered_files"):
        seal_block = {"algorithm": "sha256", "format": 2, "files": rio.covered_files(data)}
        body = {**data, "integrity": seal_block}
    else:  # pragma: no cover - the harness before digest format 2
        seal_block, body = {"algorithm": "sha256"}, data
    try:
        digest = rio.content_digest(body)
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: no digest can cover it
        digest = "0" * 64
    data["integrity"] = {**seal_block, "digest": digest, "signature": None, "public_key": None}
    (folder / "result.json").write_bytes(json.dumps(data, indent=2).encode() + b"\n")


def data_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "result.json").read_text())


# --- results: text edits (unsealable) ---------------------------------------------------------------------


def _text(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / "result.json").read_text()
        assert old in text, old
        (folder / "result.json").write_text(text.replace(old, new, 1))
    return edit


def _deep(folder: Path) -> None:
    text = (folder / "result.json").read_text()
    (folder / "result.json").write_text(text.replace('"provenance": {', '"provenance": {"x": ' + "[" * DEEP
                                                     + "]" * DEEP + ",", 1))


def _not_utf8(folder: Path) -> None:
    raw = (folder / "result.json").read_bytes()
    (folder / "result.json").write_bytes(raw.replace(b'"Acme X1"', b'"Acme \xff\xfe X1"', 1))


TEXT_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (edit, the field the error must name)
    "nan": (_text('"rate_hz": 10.0', '"rate_hz": NaN'), "measurement.rate_hz"),
    "infinity": (_text('"achieved_rate_hz": 10.0', '"achieved_rate_hz": -Infinity'), "measurement.achieved_rate_hz"),
    "overflow": (_text('"rate_hz": 10.0', '"rate_hz": 1e309'), "measurement.rate_hz"),
    "long-int": (_text('"samples": ', '"samples": ' + "9" * 5000 + ', "x": '), "measurement.samples"),
    "surrogate": (_text('"Acme X1"', '"Acme \\ud800 X1"'), "device.name"),
    "deep": (_deep, "nested more than"),
    "not-utf8": (_not_utf8, "UTF-8"),
}


# --- results: data edits, sealed again --------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``a.b.0.c`` in the data."""
    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return edit


def _all(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)
    return edit


def _recorded_profile_regex(data: dict[str, Any]) -> None:
    """A device no profile matches and a recorded profile whose regex blows the recursion limit if compiled."""
    data["device"]["name"] = "Unknown Accelerator 9000"
    data["profile"] = {"id": "custom-chip", "vendor": "Acme", "name": "X", "form_factor": "OAM",
                       "match": ["(" * 3000 + "x" + ")" * 3000, "(a+)+$"], "device_types": [],
                       "rated_power_w": 300.0, "peak_flops": {"bf16": 1e15},
                       "sources": {"rated_power_w": "a datasheet, page 1", "peak_flops": "a datasheet, page 2"},
                       "notes": "", "path": None, "sha256": None}


# name: (edit, loads) - loads: the result is valid (every command uses it), else it is refused with a clear line
SEALED_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], bool]] = {
    "ansi": (_all(_set("device.name", f"Acme {ESC}"), _set("workloads.0.workload", f"gemm{ESC}"),
                  _set("workloads.0.unit", f"mat{ESC}"),
                  lambda d: d["issues"].append({"code": f"c{ESC}", "message": f"m{ESC}", "severity": "warning"})),
             True),
    "markup": (_all(_set("device.name", MARKUP), _set("workloads.0.workload", MARKUP), _set("workloads.0.unit", "[/]"),
                    lambda d: d["issues"].append({"code": "[/]", "message": MARKUP, "severity": "error"})), True),
    "mathtext": (_all(_set("workloads.0.unit", MATHTEXT), _set("device.name", MATHTEXT)), True),
    "bidi": (_set("device.name", "Acme \u202eevil\u202c X1"), True),
    "newline": (_all(_set("device.name", "Acme\nPASS forged line"),
                     lambda d: d["issues"].append({"code": "x", "message": "a\r\nFAIL nothing", "severity": "info"})),
                True),
    "recorded-profile-regex": (_recorded_profile_regex, True),
    "tiny-energy": (_set("workloads.0.aggregate.gross_energy_per_unit_j",
                         {"mean": 1e-300, "std": 1e-301, "ci95_low": 5e-301, "ci95_high": 2e-300, "n": 3}), True),
    "redos-name": (_set("device.name", REDOS_NAME), False),
    "capabilities-garbage": (_set("measurement.channels.0.capabilities",
                                  {"energy_tolerance": "abc", "power": 5, "scope": [], "update_period_s": "x"}), False),
    "capabilities-not-object": (_set("measurement.channels.0.capabilities", "garbage"), False),
    "zero-rate": (_set("measurement.rate_hz", 0), False),
    "no-channels": (_set("measurement.channels", []), True),
    "device-name-list": (_set("device.name", ["a", {"b": 1}]), False),
    "settings-garbage": (_set("workloads.0.settings.batch_size", "abc"), False),
    "time-overflow": (_set("windows.0.t_start_ns", 2**70), False),
    "schema-list": (_set("schema_version", [1, 0]), False),
    "status-unknown": (_set("status", "sealed"), False),
    "negative-count": (_set("workloads.0.repeats.0.units", -5), False),
    "bool-number": (_set("measurement.rate_hz", True), False),
    "string-number": (_set("measurement.rate_hz", "10"), False),
    "huge-figure": (_set("workloads.0.aggregate.energy_per_unit_j.mean", 1e300), False),
    "long-string": (_set("provenance.hostname", "x" * 100_000), False),
    "trace-path-escape": (_set("trace.path", "../../../etc/passwd"), False),
    "trace-path-newline": (_set("trace.path", "trace.parquet\n"), False),
    "run-id-path": (_set("run_id", "../../x"), False),
}


def write_result_case(folder: Path, base: Path, name: str) -> Path:
    """A copy of the sealed ``base`` folder spoiled as corpus case ``name``."""
    import shutil

    shutil.copytree(base, folder)
    if name in TEXT_CASES:
        TEXT_CASES[name][0](folder)
    else:
        data = data_of(folder)
        SEALED_CASES[name][0](data)
        seal(folder, data)
    return folder


def sparse_file(path: Path, size: int, head: bytes = b"", tail: bytes = b"") -> Path:
    """A file of ``size`` bytes that takes almost no disk: ``head``, a hole, ``tail``."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size - len(tail))
        fh.seek(size - len(tail))
        fh.write(tail)
    return path


# --- traces -----------------------------------------------------------------------------------------------


def trace_table(rows: int = 100, channel_name: str = "nvml:0", **overrides: Any) -> Any:
    """A valid trace table (a constant 100 W, a counter), columns replaced by ``overrides``."""
    import pyarrow as pa

    from bench.result.trace import FIELDS, schema

    cols: dict[str, Any] = {"t_ns": [5_000_000_000_000 + i * 100_000_000 for i in range(rows)],
                            "channel": [channel_name] * rows, **{f: [100.0] * rows for f in FIELDS}}
    cols["energy_j"] = [10.0 * i for i in range(rows)]
    base = pa.Table.from_pydict(cols, schema=schema({"channels": {channel_name: {}}}))
    for name, value in overrides.items():
        if value is None:
            base = base.drop_columns([name])
        else:
            base = base.set_column(base.schema.get_field_index(name), name, value)
    return base


def row_bomb(path: Path, rows: int = 20_971_520) -> Path:
    """A Parquet trace of ``rows`` constant rows that takes a few hundred kB (dictionary + run-length coding)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.result.trace import FIELDS, schema

    n = 1 << 20
    cols = {"t_ns": pa.array(np.zeros(n, dtype=np.int64)),
            "channel": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                                      pa.array(["nvml:0"])).cast(pa.string()),
            **{f: pa.array(np.zeros(n)) for f in FIELDS}}
    table = pa.Table.from_pydict(cols, schema=schema({"channels": {"nvml:0": {}}}))
    with pq.ParquetWriter(str(path), table.schema, compression="snappy", write_statistics=False) as writer:
        for _ in range(rows // n):
            writer.write_table(table, row_group_size=n)
    return path


def compressed_stream(path: Path, rows: int = 4_000_000) -> Path:
    """An Arrow stream (``trace.arrows``) whose one zstd-compressed batch decodes to ``rows`` rows of zeros."""
    import numpy as np
    import pyarrow as pa

    from bench.result.trace import FIELDS, schema

    cols = {"t_ns": pa.array(np.zeros(rows, dtype=np.int64)), "channel": pa.array([""] * rows),
            **{f: pa.array(np.zeros(rows)) for f in FIELDS}}
    batch = pa.RecordBatch.from_pydict(cols, schema=schema())
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_batch(batch)
    return path


# --- bundles ----------------------------------------------------------------------------------------------


def tar_bytes(members: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manifest(entries: list[dict[str, Any]] | None = None, **overrides: Any) -> bytes:
    data = {"format": "bench-bundle", "format_version": 1, "created_utc": "2026-01-01T00:00:00+00:00",
            "harness": {"name": "bench"}, "results": entries or [], **overrides}
    return json.dumps(data).encode()


def raw_manifest(version_token: str) -> bytes:
    """A manifest whose format_version is written as a raw JSON token (``1e309``, ``NaN``, ``"1"``...)."""
    return ('{"format": "bench-bundle", "format_version": ' + version_token + ', "results": []}').encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def many_members(path: Path, count: int) -> Path:
    """A gzip tar of a valid (empty) manifest and ``count`` empty members, written header by header from one
    template (names of one length, so each checksum is the template's adjusted by the name's bytes): quick even
    for 100,000."""
    import gzip

    template = tarfile.TarInfo("junk/f000000").tobuf(tarfile.GNU_FORMAT)
    base_sum = sum(template[:148]) + sum(template[156:]) + 8 * 32  # the checksum field counts as spaces
    name_sum = sum(b"junk/f000000")
    with gzip.open(path, "wb", compresslevel=1) as gz:
        data = manifest()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        gz.write(info.tobuf(tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512))
        for i in range(count):
            name = b"junk/f%06d" % i
            checksum = b"%06o\0 " % (base_sum - name_sum + sum(name))
            gz.write(name + template[12:148] + checksum + template[156:])
        gz.write(b"\0" * 1024)
    return path


def sparse_member_tar(path: Path, size: int, name: str = "results/x/trace.parquet",
                      kind: bytes = tarfile.REGTYPE) -> Path:
    """A plain tar holding one member of ``size`` bytes of zeros, sparse on disk (a tar's data is not compressed,
    so the hole reads as zeros)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    header = info.tobuf(tarfile.GNU_FORMAT)
    blocks = -(-size // 512) * 512
    sparse_file(path, len(header) + blocks + 1024, head=header, tail=b"\0" * 1024)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path
