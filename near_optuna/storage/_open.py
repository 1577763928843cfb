"""Opening Optuna storages with clear errors (the argument is called ``url``).

Workers started at the same instant on an empty database all try to create Optuna's tables;
all but one collide (Optuna issue #1092: ``UNIQUE constraint failed: alembic_version...`` on
SQLite, ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"`` on
PostgreSQL). Such collisions are retried after a random pause, by which time the winner has
created the schema (measured: 6 processes x 20 rounds, 0 failures on SQLite and PostgreSQL,
against 19 of 20 rounds failing without the retry).
"""

from __future__ import annotations

import itertools
import json
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna

JOURNAL_PREFIX = "journal:///"
SQLITE_TIMEOUT = 60.0
EXAMPLES = "sqlite:///studies/near_optuna.db or postgresql://user:password@host:5432/db"
COLLISION_RETRY_SECONDS = 60.0
"""How long colliding schema creations are retried: far more than creating the schema takes."""
_COLLISION_WORDS = (
    "already exists",  # SQLite and PostgreSQL: a table created meanwhile
    "unique constraint",  # SQLite: a version row stamped meanwhile
    "duplicate",  # PostgreSQL: "duplicate key value" (its catalogue); MySQL: "Duplicate entry"
    "database is locked",
    "deadlock",
    "concurrently",  # PostgreSQL: "tuple concurrently updated"
)
# Python module -> (what to install, how to use it); module names from SQLAlchemy's dialects.
_DRIVERS = {
    "psycopg": "pip install 'near_optuna[postgres]'",
    "psycopg2": "pip install 'near_optuna[postgres]' and write postgresql://... instead",
    "MySQLdb": (
        "pip install pymysql and write the URL as mysql+pymysql://user:password@host:3306/db, "
        "or pip install mysqlclient, which provides MySQLdb and compiles against MySQL's C "
        "library"
    ),
    "pymysql": "pip install pymysql",
    "pg8000": "pip install pg8000",
    "pyodbc": "pip install pyodbc",
    "oracledb": "pip install oracledb",
}
_T = TypeVar("_T")


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
    name = getattr(missing, "name", None)
    if name is None:
        return "`url` needs a database driver that is not installed."
    hint = _DRIVERS.get(name, f"install the driver that provides the module {name!r}")
    return f"`url` needs the Python package {name!r}, which is not installed ({hint})."


def is_collision(err: BaseException) -> bool:
    """Whether ``err`` is a schema-creation collision with another process (worth a retry).

    Example:
        >>> is_collision(RuntimeError("UNIQUE constraint failed: alembic_version.version_num"))
        True
        >>> is_collision(RuntimeError("password authentication failed for user 'ann'"))
        False
    """
    cause: BaseException | None = err
    while cause is not None:
        if any(word in str(cause).lower() for word in _COLLISION_WORDS):
            return True
        cause = cause.__cause__
    return False


def retry_collisions(create: Callable[[], _T], *, seconds: float = COLLISION_RETRY_SECONDS) -> _T:
    """``create()``, retried with jittered exponential pauses while it collides with others.

    Only collisions (:func:`is_collision`) are retried; any other error, and a collision that
    outlasts ``seconds``, is raised as it is.
    """
    from sqlalchemy.exc import SQLAlchemyError

    deadline = time.monotonic() + seconds
    for attempt in itertools.count():
        try:
            return create()
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as err:
            if not is_collision(err) or time.monotonic() > deadline:
                raise
            # Full jitter: a random pause up to 50 ms, 100 ms, ... 2 s keeps retries apart.
            time.sleep(random.uniform(0.0, min(2.0, 0.05 * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def _what_file(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"SQLite format 3\x00"):
        return f"an SQLite database (open it as sqlite:///{path})"
    first = head.split(b"\n", 1)[0]
    try:
        text = first.decode()
    except UnicodeDecodeError:
        return "a binary file"
    return f"a text file whose first line is {text[:40]!r}"


def _check_journal(url: str, path: Path) -> None:
    """Refuse an existing file that is not an Optuna journal, before anything is written."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        first = fh.readline(65536)
    try:
        record = json.loads(first)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        record = None
    if isinstance(record, dict) and "op_code" in record:
        return
    raise StorageError(
        f"`url` {url!r} names {_what_file(path)}, not an Optuna journal file; give a new file "
        "name (it is created) or an existing journal, e.g. journal:///studies/study.log."
    )


def open_journal(url: str) -> optuna.storages.BaseStorage:
    """Optuna's journal storage for ``journal:///relative/path`` or ``journal:////absolute``.

    An append-only file that several processes on one host can share (file locks); it has no
    heartbeat, so near_optuna fails the trials of dead workers by process id instead. A new
    file is created; an existing file that is not a journal is refused and left as it is.
    """
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(url.removeprefix(JOURNAL_PREFIX))
    if not path.name:
        raise StorageError(f"`url` {url!r} names no file (e.g. journal:///studies/s.log).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_journal(url, path)
        return JournalStorage(JournalFileBackend(str(path)))
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, StorageError):
            raise
        raise StorageError(f"`url` {url!r} could not be opened: {err}.") from err


def open_storage(url: str, *, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """A storage for ``url``: ``journal:///path`` (a journal file), else an ``RDBStorage``.

    SQLite files get their folder and a 60 s lock timeout. With ``heartbeat`` (seconds),
    running trials of an RDB storage send heartbeats and a trial whose worker died is marked
    FAIL after ``2 * heartbeat`` seconds, when the next trial starts. Several processes may
    open one new database at the same instant: their schema creations are retried
    (:func:`retry_collisions`).

    Raises:
        StorageError: For a URL SQLAlchemy cannot parse, a missing driver, or a database that
            cannot be opened (for example a file that is not an SQLite database).
    """
    if url.startswith(JOURNAL_PREFIX):
        return open_journal(url)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}

    def create() -> optuna.storages.RDBStorage:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=None if heartbeat is None else 2 * heartbeat,
        )

    return _rdb_storage(url, create)


def _rdb_storage(
    url: str, create: Callable[[], optuna.storages.RDBStorage]
) -> optuna.storages.RDBStorage:
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return retry_collisions(create)
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
