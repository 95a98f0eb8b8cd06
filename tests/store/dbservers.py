"""Real PostgreSQL and MariaDB servers for tests, on loopback.

`postgres_base()` / `mariadb_base()` return a server URL: the machine's service on the default
port when it answers (trust auth, as `scripts/test-services.sh` leaves it), otherwise one this
module starts in a temporary folder from the Debian binaries, otherwise None (the caller skips).
`OwnPostgres` is also used directly by tests that must stop and start the server themselves.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _as_service_user(user: str) -> list[str]:
    """initdb and mariadbd refuse to run as root; drop to the package's system user when root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    return [runuser, "-u", user, "--"] if runuser else []


def _chown(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user, user)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class OwnPostgres:
    """A throwaway PostgreSQL cluster (trust auth) that can be stopped and started at will."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="gw-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.prefix = _as_service_user("postgres")
        self.root.chmod(0o755)
        _chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr[-2000:] or result.stdout[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class OwnMariaDB:
    def __init__(self) -> None:
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
        if install is None or not Path(server).exists():
            raise RuntimeError("MariaDB server binaries are not installed (apt-get install mariadb-server)")
        self.root = Path(tempfile.mkdtemp(prefix="gw-maria-"))
        self.root.chmod(0o755)
        _chown(self.root, "mysql")
        self.port = free_port()
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.root / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        self.process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={self.root / 'data'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                "--skip-log-bin",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mariadbd did not start")
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}"

    def destroy(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)


async def _try_postgres(url: str) -> bool:
    import asyncpg

    try:
        connection = await asyncpg.connect(f"{url}/postgres", timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def _try_mariadb(url: str) -> bool:
    import aiomysql

    port = int(url.rsplit(":", 1)[1])
    try:
        connection = await aiomysql.connect(
            host="127.0.0.1", port=port, user="root", password="", connect_timeout=3
        )
    except Exception:  # any refusal (auth plugin, no server) means "not usable for tests"
        return False
    connection.close()
    return True


async def create_database(base_url: str) -> str:
    """A fresh, uniquely named database on the server; returns its URL."""
    name = f"gwtest_{uuid.uuid4().hex[:10]}"
    if base_url.startswith("postgresql"):
        import asyncpg

        connection = await asyncpg.connect(f"{base_url}/postgres")
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
    else:
        import aiomysql

        port = int(base_url.rsplit(":", 1)[1])
        connection = await aiomysql.connect(host="127.0.0.1", port=port, user="root", password="")
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        connection.close()
    return f"{base_url}/{name}"


async def drop_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    with contextlib.suppress(Exception):  # best effort: the server may already be gone
        if url.startswith("postgresql"):
            import asyncpg

            connection = await asyncpg.connect(f"{base}/postgres")
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()
        else:
            import aiomysql

            port = int(base.rsplit(":", 1)[1])
            connection = await aiomysql.connect(host="127.0.0.1", port=port, user="root", password="")
            async with connection.cursor() as cursor:
                await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            connection.close()


async def service_url(kind: str) -> str | None:
    """The machine's own server on its default port, if it answers with trust/no-password auth."""
    if os.environ.get("GW_TEST_NO_SERVICES"):  # lets the own-server path be exercised on purpose
        return None
    if kind == "postgresql":
        url = "postgresql://postgres@127.0.0.1:5432"
        return url if port_open(5432) and await _try_postgres(url) else None
    url = "mysql://root@127.0.0.1:3306"
    return url if port_open(3306) and await _try_mariadb(url) else None
