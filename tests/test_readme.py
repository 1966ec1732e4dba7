"""The README's library example runs as written (on the real models)."""

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_readme_library_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    assert blocks, "README has a python example"
    shutil.copytree(ROOT / "corpora" / "medicine", tmp_path / "corpora" / "medicine")
    monkeypatch.chdir(tmp_path)  # the example uses relative paths; run it in a scratch copy
    exec(compile(blocks[0], "README.md", "exec"), {})  # noqa: S102 (running the README's own example is the test)
    out = capsys.readouterr().out
    assert "answered" in out and "40" in out
