"""The README's Python blocks run as written, each on its own in an empty folder.

A block may state what it prints with a ``# prints: TEXT`` comment; the text must appear in
what the block printed.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.M)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_has_python_blocks():
    assert len(blocks()) >= 4


@pytest.mark.parametrize("code", blocks(), ids=lambda code: code.strip().splitlines()[-1][:40])
def test_a_readme_block_runs_in_a_fresh_folder(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for expected in PRINTS.findall(code):
        assert expected in result.stdout, f"README claims it prints {expected!r}"
