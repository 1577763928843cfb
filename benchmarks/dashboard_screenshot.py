"""Headless Chromium screenshot of the optuna-dashboard page of a near_optuna study.

Usage:
    python benchmarks/dashboard_screenshot.py [--storage URL] [--study-name NAME]
        [--page {study,note,analytics}] [--window-size W,H] [--out PNG]

Without ``--storage`` a fresh study is tuned into a temporary directory first
(``python -m near_optuna.tune --dataset digits --n-trials 40 --validate 3``), which writes the
trial notes, the study note and the study-level plotly figures. optuna-dashboard is then served
on a free loopback port, and Chromium (``apt-get install chromium``) renders the study page
without any access beyond the loopback interface. The default page is the study's main page,
where optuna-dashboard shows the history, importance and timeline plots followed by
near_optuna's own figures; the default window is tall enough to show all of them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PAGES = {"study": "", "note": "/note", "analytics": "/analytics"}
START_TIMEOUT = 60.0
RENDER_BUDGET_MS = 15000


class ScreenshotError(RuntimeError):
    """A step failed; reported in one line."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--storage", default=None, help="study storage URL (default: a fresh study)")
    p.add_argument("--study-name", default="near_optuna")
    p.add_argument("--page", choices=list(PAGES), default="study", help="dashboard page")
    p.add_argument("--window-size", default="1400,2700", help="browser window W,H in pixels")
    p.add_argument("--out", default=str(RESULTS / "dashboard.png"), help="PNG to write")
    p.add_argument("--chromium", default=None, help="Chromium binary (default: on PATH)")
    return p.parse_args(argv)


def find_chromium(explicit: str | None) -> str:
    """The Chromium executable, or a ScreenshotError saying how to install it."""
    for candidate in (explicit,) if explicit else ("chromium", "/usr/bin/chromium"):
        if found := shutil.which(candidate):
            return found
    raise ScreenshotError("Chromium not found; install it with `apt-get install chromium`")


def dashboard_command() -> list[str]:
    """The optuna-dashboard executable (``python -m optuna_dashboard`` is not runnable)."""
    beside = Path(sys.executable).parent / "optuna-dashboard"
    found = str(beside) if beside.exists() else shutil.which("optuna-dashboard")
    if found is None:
        raise ScreenshotError("optuna-dashboard not found; pip install optuna-dashboard")
    return [found]


def make_study(directory: Path) -> str:
    """Tune a small near_optuna study into ``directory``; return its storage URL."""
    storage = f"sqlite:///{directory / 'study.db'}"
    command = [sys.executable, "-m", "near_optuna.tune", "--storage", storage]
    command += ["--dataset", "digits", "--n-trials", "40", "--validate", "3", "-q"]
    print("tuning a fresh study:", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScreenshotError(f"near_optuna.tune failed ({done.returncode}): {last}")
    return storage


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@contextmanager
def serve_dashboard(storage: str, log: Path) -> Iterator[str]:
    """Run optuna-dashboard on ``storage``; yield its base URL; stop it afterwards."""
    port = free_port()
    command = [*dashboard_command(), storage, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--server", "wsgiref"]
    with log.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/api/meta`` until the dashboard answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = (log.read_text().strip().splitlines() or ["no output"])[-1]
            raise ScreenshotError(f"optuna-dashboard exited ({process.returncode}): {last}")
        try:
            get_json(f"{base}/api/meta")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise ScreenshotError(f"optuna-dashboard did not answer within {START_TIMEOUT:g} s")


def study_id(base: str, name: str) -> int:
    """The dashboard's id of the study called ``name``."""
    summaries = get_json(f"{base}/api/studies")["study_summaries"]
    for summary in summaries:
        if summary["study_name"] == name:
            return int(summary["study_id"])
    names = ", ".join(s["study_name"] for s in summaries) or "none"
    raise ScreenshotError(f"no study {name!r} in the storage (studies: {names})")


def screenshot(chromium: str, url: str, out: Path, window: str, profile: Path) -> None:
    """Render ``url`` in headless Chromium and save the window as ``out``."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        "--hide-scrollbars",
        f"--virtual-time-budget={RENDER_BUDGET_MS}",
        f"--screenshot={out}",
        url,
    ]
    out.unlink(missing_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not out.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScreenshotError(f"Chromium wrote no screenshot ({done.returncode}): {last}")


def run(args: argparse.Namespace) -> tuple[Path, str]:
    """Make or open the study, serve it, screenshot it; return the PNG path and the URL."""
    chromium = find_chromium(args.chromium)
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dashboard_screenshot_"))
    try:
        storage = args.storage or make_study(work)
        with serve_dashboard(storage, work / "dashboard.log") as base:
            sid = study_id(base, args.study_name)
            url = f"{base}/dashboard/studies/{sid}{PAGES[args.page]}"
            screenshot(chromium, url, out, args.window_size, work / "profile")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out, url


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the PNG path and the URL, or one error line."""
    args = parse_args(argv)
    try:
        out, url = run(args)
    except (ScreenshotError, OSError, subprocess.SubprocessError) as err:
        print(f"dashboard_screenshot: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    print(f"screenshot of {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
