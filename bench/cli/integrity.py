"""``bench keygen``, ``sign``, ``verify``, ``export`` and ``import``: tamper-evident results and bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bench.cli.console import say

STATE_TEXT = {"signed": "intact, signed", "unsigned": "intact, unsigned", "edited": "EDITED",
              "bad-signature": "BAD SIGNATURE", "untrusted-key": "UNTRUSTED KEY"}


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")(f)


def _trusted(pubkeys: tuple[str, ...]) -> list[Any] | None:
    from bench.result.integrity import load_public_key

    return [load_public_key(k) for k in pubkeys] if pubkeys else None


@click.command()
@click.option("--output", "-o", "path", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench-key"),
              show_default=True, help="Private key file; the public key goes to the same name + .pub.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@_json_option
def keygen(path: Path, force: bool, as_json: bool) -> None:
    """Make an Ed25519 key pair for signing results (private key written with mode 0600)."""
    from bench.result.integrity import fingerprint, generate_keypair, load_public_key

    priv, pub = generate_keypair(path, force=force)
    print_ = fingerprint(load_public_key(pub))
    if as_json:
        click.echo(json.dumps({"private_key": str(priv), "public_key": str(pub), "fingerprint": print_}, indent=2))
    else:
        say(f"private key: {priv} (keep it secret)")
        say(f"public key:  {pub}")
        say(f"fingerprint: {print_}")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--key", "-k", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ed25519 private key (PEM) from `bench keygen`.")
@_json_option
def sign(results: tuple[Path, ...], key: Path, as_json: bool) -> None:
    """Sign intact results with an Ed25519 key. Edited results are refused (exit 1)."""
    from bench.errors import ResultError
    from bench.result.integrity import load_private_key, sign_folder
    from bench.result.store import find_result_folders

    private = load_private_key(key)
    folders, skipped = find_result_folders(results)
    refused = [{"path": path, "reason": why} for path, why in skipped]
    signed = []
    for path, why in skipped:
        say(f"bench: skipped {path}: {why}", err=True)
    for folder in folders:
        try:
            check = sign_folder(folder, private)
        except ResultError as exc:
            say(f"bench: {exc}", err=True)
            refused.append({"path": str(folder), "reason": str(exc)})
            continue
        signed.append({"path": str(check.folder), "run_id": check.run_id, "key_fingerprint": check.key_fingerprint})
        if not as_json:
            say(f"signed {check.folder} (key {check.key_fingerprint})")
    if as_json:
        click.echo(json.dumps({"signed": signed, "refused": refused}, indent=2))
    if refused:
        sys.exit(1)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pubkey", "-p", "pubkeys", multiple=True,
              help="Trusted public key (PEM file or base64); repeatable. Signatures from other keys fail.")
@click.option("--require-signature", is_flag=True, help="Count unsigned results as failures too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result on standard output.")
def verify(results: tuple[Path, ...], pubkeys: tuple[str, ...], require_signature: bool, as_json: bool) -> None:
    """Verify results: intact (signed or unsigned), edited, or badly signed. Exit 1 if any is edited, badly
    signed, signed by an untrusted key, or unreadable."""
    from bench.errors import ResultError
    from bench.result.integrity import check_folder
    from bench.result.store import find_result_folders

    trusted = _trusted(pubkeys)
    folders, skipped = find_result_folders(results)
    rows = [{"path": p, "state": "unreadable", "detail": why} for p, why in skipped]
    for folder in folders:
        try:
            c = check_folder(folder, trusted=trusted)
        except ResultError as exc:
            rows.append({"path": str(folder), "state": "unreadable", "detail": str(exc)})
            continue
        rows.append({"path": str(c.folder), "state": c.state, "detail": c.detail, "run_id": c.run_id,
                     "digest": c.digest, "key_fingerprint": c.key_fingerprint, "notes": c.notes})
    good = {"signed"} if require_signature else {"signed", "unsigned"}
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str))  # ASCII only: every control character escaped
        else:
            line = f"{STATE_TEXT.get(row['state'], row['state'].upper()):<17} {row['path']}"
            if row["state"] == "signed":
                line += f" (key {row['key_fingerprint']})"
            elif row["state"] != "unsigned":
                line += f": {row['detail']}"
            say(line, err=row["state"] not in good)
    if any(row["state"] not in good for row in rows):
        sys.exit(1)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Bundle to write (.tar.gz).")
@click.option("--key", "-k", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Sign the bundle's manifest with this Ed25519 private key.")
@_json_option
def export(results: tuple[Path, ...], output: Path, key: Path | None, as_json: bool) -> None:
    """Bundle intact result folders into a submission archive (tar.gz + manifest of digests)."""
    from bench.errors import UsageError
    from bench.result.bundle import export_bundle
    from bench.result.integrity import load_private_key
    from bench.result.io import check_output
    from bench.result.store import find_result_folders

    check_output(output)
    private = load_private_key(key) if key else None
    folders, skipped = find_result_folders(results)
    report = export_bundle(folders, output, private)
    for path, why in skipped + report.refused:
        say(f"bench: not exported {path}: {why}", err=True)
    if not report.done:
        output.unlink(missing_ok=True)
        raise UsageError("nothing to export")
    if as_json:
        click.echo(json.dumps({"path": str(output), "results": report.done, "signer": report.signer,
                               "refused": [{"path": p, "reason": why} for p, why in skipped + report.refused]},
                              indent=2))
    else:
        signed = f", manifest signed by {report.signer}" if report.signer else ""
        say(f"wrote {output}: {len(report.done)} result(s){signed}")
    if skipped or report.refused:
        sys.exit(1)


@click.command(name="import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", "target", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Folder to unpack the results into.")
@click.option("--pubkey", "-p", "pubkeys", multiple=True,
              help="Trusted public key for the manifest and result signatures; repeatable.")
@_json_option
def import_(bundle: Path, target: Path, pubkeys: tuple[str, ...], as_json: bool) -> None:
    """Check a submission bundle and unpack its results. A result already imported with identical files is
    left as it is (importing a bundle twice exits 0). Exit 1 if anything was refused."""
    from bench.result.bundle import import_bundle

    report = import_bundle(bundle, target, trusted=_trusted(pubkeys))
    for name, why in report.refused:
        say(f"bench: refused {name}: {why}", err=True)
    if as_json:
        click.echo(json.dumps({"bundle": str(bundle), "target": str(target),
                               "imported": [str(target / n) for n in report.done],
                               "identical": [str(target / n) for n in report.identical], "signer": report.signer,
                               "refused": [{"name": n, "reason": why} for n, why in report.refused]}, indent=2))
    else:
        for name in report.done:
            say(f"imported {target / name}")
        for name in report.identical:
            say(f"already imported, identical: {target / name}")
        if report.identical and not report.done and not report.refused:
            say(f"nothing new: all {len(report.identical)} result(s) of {bundle} are in {target} already, "
                       "identical")
        if report.signer:
            say(f"manifest signed by {report.signer}")
    if report.refused:
        sys.exit(1)
