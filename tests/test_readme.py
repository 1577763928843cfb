"""The code blocks of the README and the documentation pages run; their links lead somewhere.

Every ```python block of README.md and docs/*.md runs on its own in an empty folder. A block may
state what it prints with a ``# prints: TEXT`` comment; the text must appear in what the block
printed. Shell blocks marked ``<!-- run -->`` on the line before run too, with ``bash -e``, and
must exit 0. Every relative link ``[text](path)`` or ``[text](path#anchor)`` must name a file or
folder that exists, and its anchor a heading of that page (GitHub's rule for anchors).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.M)
SHELL = re.compile(r"^<!-- run -->\n```bash\n(.*?)^```", re.M | re.S)
FENCE = re.compile(r"^ *```.*?^ *```", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#* *$", re.M)


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def collect(pattern: re.Pattern[str]) -> list:
    """Each block of every page, with a test id that names the page and the block's last line."""
    found = []
    for page in PAGES:
        for code in pattern.findall(page.read_text()):
            last = code.strip().splitlines()[-1][:40]
            found.append(pytest.param(code, id=f"{name(page)}: {last}"))
    return found


def test_the_pages_have_python_blocks():
    assert len(collect(BLOCK)) >= 4
    assert BLOCK.search((ROOT / "README.md").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("code", collect(BLOCK))
def test_a_python_block_runs_in_a_fresh_folder(code, tmp_path):
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
        assert expected in result.stdout, f"the page claims it prints {expected!r}"


def test_the_pages_run_the_model_file_commands():
    assert any("near_optuna.predict" in block.values[0] for block in collect(SHELL))


@pytest.mark.slow
@pytest.mark.parametrize("code", collect(SHELL))
def test_a_shell_block_runs_in_a_fresh_folder(code, tmp_path):
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


def prose(page: Path) -> str:
    """The page without its code blocks (whose lines may start with # or hold brackets)."""
    return FENCE.sub("", page.read_text())


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped but - and _, spaces to -."""
    text = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(prose(page)):
        base, n = anchor(heading), 0
        while (candidate := base if n == 0 else f"{base}-{n}") in found:
            n += 1  # GitHub numbers a repeated heading's anchor: name, name-1, name-2, ...
        found.add(candidate)
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(CODE_SPAN.sub("", prose(page)))


def test_the_anchor_rule():
    assert anchor("Time to quality against TPE + Hyperband") == (
        "time-to-quality-against-tpe--hyperband"
    )
    assert anchor("From a ranking to an answer: `--refine`") == (
        "from-a-ranking-to-an-answer---refine"
    )
    assert anchor("What the paper's experiments showed") == "what-the-papers-experiments-showed"


def test_the_pages_link_to_one_another():
    assert any(target.startswith("docs/") for target in links(ROOT / "README.md"))


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_leads_to_a_file_and_heading(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ... not checked here
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading with the anchor #{fragment} in {name(linked)}")
    assert not broken, f"{name(page)} has broken links:\n" + "\n".join(broken)
