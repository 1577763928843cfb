"""Progress bars for the command's long steps (layer sizing, training), like Optuna's own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

Progress = Callable[[int, int], None]


@contextlib.contextmanager
def progress_bar(description: str, *, quiet: bool) -> Iterator[Progress | None]:
    """A ``progress(done, total)`` callback drawing a tqdm bar; ``None`` when ``quiet``."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=description, total=None, unit="step", leave=False)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()
