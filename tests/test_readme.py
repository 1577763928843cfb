"""The README's Python blocks run as written, each on its own in an empty folder.

A block may state what it prints with a ``# prints: TEXT`` comment; the text must appear in
what the block printed. Shell blocks marked ``<!-- run -->`` on the line before run too, with
``bash -e``, and must exit 0.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.M)
SHELL = re.compile(r"^<!-- run -->\n```bash\n(.*?)^```", re.M | re.S)


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


def shell_blocks() -> list[str]:
    return SHELL.findall(README.read_text())


def test_the_readme_runs_its_model_file_commands():
    assert any("near_optuna.predict" in block for block in shell_blocks())


@pytest.mark.parametrize(
    "code", shell_blocks(), ids=lambda code: code.strip().splitlines()[-1][:40]
)
def test_a_readme_shell_block_runs_in_a_fresh_folder(code, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        ["bash", "-e", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
