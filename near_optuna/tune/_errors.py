"""User errors of the command line, in the words of its flags."""

from __future__ import annotations

import contextlib
import re
import sys
import traceback
from collections.abc import Iterator, Mapping

PROG = "python -m near_optuna.tune"


class UsageError(ValueError):
    """Bad usage or input: reported in one line with exit code 2."""


@contextlib.contextmanager
def user_input(flags: Mapping[str, str]) -> Iterator[None]:
    """Turn the library's errors about arguments the user gave into :class:`UsageError`.

    The library names its own arguments (`` `path` ``, `` `url` ``); ``flags`` maps those names
    to the command line's (``{"path": "--data"}``), so the message speaks of what the user
    typed. Only the code inside this block is about user input: errors anywhere else are
    unexpected failures (exit 1), not usage errors.

    Example:
        >>> try:
        ...     with user_input({"path": "--data"}):
        ...         raise FileNotFoundError("`path` file not found: 'x.csv'.")
        ... except UsageError as err:
        ...     print(err)
        `--data` file not found: 'x.csv'.
    """
    try:
        yield
    except UsageError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise UsageError(translate(str(err), flags)) from err


def translate(message: str, flags: Mapping[str, str]) -> str:
    """Replace each `` `argument` `` of ``flags`` in ``message`` by its flag.

    Example:
        >>> translate("`k` must be >= 1, but got k=0.", {"k": "--validate"})
        '`--validate` must be >= 1, but got k=0.'
    """
    for name, flag in flags.items():
        message = re.sub(rf"`{re.escape(name)}`", f"`{flag}`", message)
    return message


def report_error(prog: str, err: BaseException, *, debug: bool, usage: bool) -> int:
    """Print a failure in one line on stderr (the traceback too with ``debug``); its exit code.

    ``usage``: bad usage or input, exit code 2; otherwise an unexpected failure, exit code 1.
    """
    if debug:
        traceback.print_exc()
    if usage:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    print(
        f"{prog}: unexpected failure: {type(err).__name__}: {err} (--debug shows the traceback)",
        file=sys.stderr,
    )
    return 1
