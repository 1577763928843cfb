"""A throwaway PostgreSQL cluster for tests: initdb and pg_ctl on a temporary directory."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest

PASSWORD_USER, PASSWORD = "pwuser", "right-password"


def find(name: str) -> str | None:
    """A PostgreSQL program on PATH or in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=120)


def create_database(port: int) -> str:
    """A new, empty database on the server at ``port``; returns its name."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    _psql(port, f"CREATE DATABASE {name}")
    return name


def drop_database(port: int, name: str) -> None:
    """Drop database ``name``, closing whatever connections are left."""
    _psql(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _psql(port: int, statement: str) -> None:
    psql = find("psql")
    assert psql is not None, "postgres_server() found psql"
    _run([psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", statement])


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, int]]:
    """Start a cluster; yield ``(url of database 'near' as superuser, port)``; remove it."""
    initdb, pg_ctl, psql = find("initdb"), find("pg_ctl"), find("psql")
    if not (initdb and pg_ctl and psql):
        message = "PostgreSQL server programs (initdb, pg_ctl) are not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run installs them")
        pytest.skip(message)
    root = tempfile.mkdtemp(prefix="near-pg-")
    os.chmod(root, 0o777)
    data, port = os.path.join(root, "data"), _free_port()
    try:
        _run([initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        hba = os.path.join(data, "pg_hba.conf")
        with open(hba) as fh:
            rules = fh.read()
        with open(hba, "w") as fh:  # the first matching rule wins: a password user first
            fh.write(f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n{rules}")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-o", options, "-w", "start"])
        _psql(port, "CREATE DATABASE near")
        _psql(port, f"CREATE USER {PASSWORD_USER} PASSWORD '{PASSWORD}'")
        yield f"postgresql://postgres@127.0.0.1:{port}/near", port
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run([pg_ctl, "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)
