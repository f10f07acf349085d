"""A throwaway PostgreSQL server on a free loopback port, for tests (Debian's `postgresql` package).

initdb into a temporary folder, then pg_ctl start with the socket in that folder and TCP on 127.0.0.1 only.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_binaries() -> tuple[Path, Path] | None:
    """(initdb, pg_ctl) from PATH, else from /usr/lib/postgresql/*/bin (newest version first)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb), Path(pg_ctl)
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return Path(folder, "initdb"), Path(folder, "pg_ctl")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def why_not() -> str | None:
    """Why a server cannot be started here (None when it can)."""
    if find_binaries() is None:
        return (
            "PostgreSQL not installed (no initdb/pg_ctl in PATH or /usr/lib/postgresql/*/bin; "
            "apt-get install postgresql)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed (pip install 'psycopg[binary]')"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server and yield its base URL (postgresql+psycopg://engage@127.0.0.1:PORT); stop it after."""
    initdb, pg_ctl = find_binaries() or (None, None)
    assert initdb and pg_ctl, why_not()
    # Not under pytest's tmp dir: as root that is 0700 and the postgres user could not enter it.
    folder = Path(tempfile.mkdtemp(prefix="engage-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(
            [*prefix, str(initdb), "-D", str(data), "-A", "trust", "-U", "engage", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            text=True,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        subprocess.run(
            [*prefix, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
            check=True,
            capture_output=True,
            text=True,
        )
        try:
            yield f"postgresql+psycopg://engage@127.0.0.1:{port}"
        finally:
            subprocess.run(
                [*prefix, str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(base_url: str) -> str:
    """Create an empty database on the server and return its SQLAlchemy URL."""
    import psycopg

    name = f"engage_{uuid.uuid4().hex[:12]}"
    dsn = base_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
