"""Opening Optuna storages with clear errors (the argument is called ``url``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

JOURNAL_PREFIX = "journal:///"
SQLITE_TIMEOUT = 60.0
EXAMPLES = "sqlite:///studies/near_optuna.db or postgresql://user:password@host:5432/db"


def display_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for printing and summaries.

    Example:
        >>> display_url("postgresql://ann:secret@db:5432/studies")
        'postgresql://ann:***@db:5432/studies'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


class StorageError(ValueError):
    """A storage URL that cannot be opened, or a study that does not match the settings."""


def _driver_hint(err: ImportError) -> str:
    # Optuna wraps the driver's ModuleNotFoundError in a plain ImportError.
    missing = err if isinstance(err, ModuleNotFoundError) else err.__cause__
    name = getattr(missing, "name", None) or "the database driver"
    extra = " (pip install 'near_optuna[postgres]')" if "psycopg" in name else ""
    return f"`url` needs the Python package {name!r}, which is not installed{extra}."


def open_journal(url: str) -> optuna.storages.BaseStorage:
    """Optuna's journal storage for ``journal:///relative/path`` or ``journal:////absolute``.

    An append-only file that several processes on one host can share (file locks); it has no
    heartbeat, so near_optuna fails the trials of dead workers by process id instead.
    """
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(url.removeprefix(JOURNAL_PREFIX))
    if not path.name:
        raise StorageError(f"`url` {url!r} names no file (e.g. journal:///studies/s.log).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except (OSError, ValueError, KeyError) as err:
        raise StorageError(f"`url` {url!r} could not be opened: {err}.") from err


def open_storage(url: str, *, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """A storage for ``url``: ``journal:///path`` (a journal file), else an ``RDBStorage``.

    SQLite files get their folder and a 60 s lock timeout. With ``heartbeat`` (seconds),
    running trials of an RDB storage send heartbeats and a trial whose worker died is marked
    FAIL after ``2 * heartbeat`` seconds, when the next trial starts.

    Raises:
        StorageError: For a URL SQLAlchemy cannot parse, a missing driver, or a database that
            cannot be opened (for example a file that is not an SQLite database).
    """
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    if url.startswith(JOURNAL_PREFIX):
        return open_journal(url)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat,
                grace_period=None if heartbeat is None else 2 * heartbeat,
            )
        except ImportError as err:
            raise StorageError(_driver_hint(err)) from err
        except ArgumentError as err:
            raise StorageError(
                f"`url` is not a database URL Optuna accepts: {display_url(url)!r} "
                f"(for example {EXAMPLES})."
            ) from err
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError) as err:
            reason = str(getattr(err, "orig", None) or err).splitlines()[0]
            shown = display_url(url)
            raise StorageError(f"`url` {shown!r} could not be opened: {reason}.") from err
