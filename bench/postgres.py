"""The bench's own PostgreSQL: a cluster under bench/data/postgres, set up as a production
server of this machine's size would be.

A development server keeps PostgreSQL's defaults: 128 MB of shared buffers for a 3.5 GB
bench database and 1 GB of WAL between checkpoints. With them, every identify call
evicted dirty pages the backend then wrote itself and, after the frequent checkpoints
that the WAL volume forced, logged whole 8 kB pages for its first change to each: one
returning user's call took 60 ms in PostgreSQL alone, and the figures measured that
configuration rather than the app. `settings()` are what a tuned server uses instead
(memory in proportion to the machine's, checkpoints every 15 minutes, compressed full-page
images); durability is PostgreSQL's default (fsync and synchronous commit on).

`--admin-url` points the bench at another server instead; its settings are reported as
they are.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

MIB = 1024 * 1024


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def settings() -> dict[str, str]:
    """The server's settings for this machine: a quarter of the memory for shared buffers
    (at most 8 GB), half of it counted on as the operating system's cache."""
    memory_mb = _memory_bytes() // MIB
    return {
        "shared_buffers": f"{min(memory_mb // 4, 8192)}MB",
        "effective_cache_size": f"{memory_mb // 2}MB",
        "maintenance_work_mem": f"{min(memory_mb // 16, 1024)}MB",
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
    }


# Settings the report shows, of whichever server the bench runs against.
REPORTED = (
    "shared_buffers",
    "effective_cache_size",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "synchronous_commit",
    "fsync",
    "work_mem",
)


def server_settings(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in REPORTED}


def prewarm(url: str) -> dict:
    """Read the database's tables and indexes into shared buffers (`pg_prewarm`), so that
    a measurement taken after a restart or a cold count sees the cache a running server
    has. Needs the extension's files and a role allowed to create it; without them the
    answer says so and nothing is read."""
    started = time.monotonic()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            relations, pages = conn.execute(
                "SELECT count(*), coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') "
                "AND c.relname NOT LIKE 'bench\\_%'"
            ).fetchone()
    except psycopg.Error as error:
        return {"prewarmed": False, "reason": str(error).strip().splitlines()[0]}
    return {
        "prewarmed": True,
        "relations": relations,
        "pages": int(pages),
        "seconds": round(time.monotonic() - started, 1),
    }


def _bindir() -> Path:
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(found) / "initdb").exists():
            return Path(found)
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    raise RuntimeError("initdb not found: install the PostgreSQL server, or pass --admin-url")


class Cluster:
    """Start (creating it on first use) and stop the bench's PostgreSQL on 127.0.0.1."""

    def __init__(self, *, data_dir: Path, port: int):
        self.data_dir, self.port = data_dir, port
        self.bindir = _bindir()
        self.log = data_dir.parent / "postgres.log"
        # PostgreSQL refuses to run as root; a root user runs it as `postgres`.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True)

    def start(self) -> None:
        # A server left running by an interrupted run is restarted with these settings.
        self.stop()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.as_user:
                shutil.chown(self.data_dir, "postgres", "postgres")
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        self.log.touch()
        if self.as_user:
            shutil.chown(self.log, "postgres", "postgres")
        options = {
            **settings(),
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            # Each autovacuum's duration and CPU in postgres.log, and the time spent waiting
            # for WAL to reach the disk in pg_stat_wal, to set beside a slow run.
            "log_autovacuum_min_duration": "0",
            "track_wal_io_timing": "on",
        }
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "120",
            "-o",
            " ".join(f"-c {name}={value}" for name, value in options.items()),
            "start",
        )
        self._wait()

    def restart(self) -> None:
        """Restart with the same settings: shared buffers start empty (a cold cache in
        seconds, where reading a ballast twice their size took minutes)."""
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(
            pg_ctl, "-D", str(self.data_dir), "-l", str(self.log), "-m", "fast", "-w", "-t", "300",
            "restart",
        )  # fmt: skip
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = str(self.bindir / "pg_ctl")
            self._run(pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)
