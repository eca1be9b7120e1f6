"""The examples of docs/python-api.md run as written (CPU, tiny sizes), each in a fresh namespace."""

import re

import pytest

from tests import ROOT

DOC = ROOT / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_page_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, tmp_path, capsys):
    code = BLOCKS[index]
    exec(compile(code, f"{DOC.name} example {index + 1}", "exec"), {"OUT": str(tmp_path), "__name__": "__doc__"})
    folders = [p for p in tmp_path.iterdir() if (p / "result.json").is_file()]
    assert folders, "every example leaves a result folder"
    from bench.result.io import load_result

    for folder in folders:
        assert load_result(folder).status == "complete"
