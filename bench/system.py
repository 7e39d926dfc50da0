"""Processes of a bench run: the app server, the load tools, and CPU accounting from /proc."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def reachable_cache(url: str) -> str:
    """`url` if its Redis answers, else the per-process memory cache (with a warning)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("redis", "rediss"):
        return url
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1):
            return url
    except OSError:
        print(f"warning: no Redis at {url}; the served app counts and caches per process")
        return "locmemcache://bench"


# --- CPU accounting --------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU seconds of the whole machine since boot. Stolen time is
    what a virtual machine's host gave to other guests while this one had work to run;
    it counts as busy."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK, values[7] / TICK


@dataclass
class CpuMeter:
    """CPU used during one run by the server's processes, named PostgreSQL backends and the
    machine as a whole (whatever else runs on it included)."""

    server_pids: list[int]
    backend_pids: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.started = time.monotonic()
        self.server0 = {p: process_cpu(p) for p in self.server_pids}
        self.backend0 = {p: process_cpu(p) for p in self.backend_pids}
        self.machine0 = machine_cpu()

    def stop(self, backend_pids: list[int]) -> dict:
        wall = time.monotonic() - self.started
        server = sum(process_cpu(p) - self.server0.get(p, 0.0) for p in self.server_pids)
        backends = sum(process_cpu(p) - self.backend0.get(p, 0.0) for p in backend_pids)
        busy1, total1, stolen1 = machine_cpu()
        busy = busy1 - self.machine0[0]
        total = max(total1 - self.machine0[1], 1e-9)
        return {
            "wall_seconds": round(wall, 2),
            "server_cpu_seconds": round(server, 2),
            "postgres_cpu_seconds": round(backends, 2),
            "machine_busy_share": round(busy / total, 3),
            "machine_busy_cpu_seconds": round(busy, 2),
            "machine_stolen_share": round((stolen1 - self.machine0[2]) / total, 3),
        }


def run_tool(command: list[str], env: dict, timeout: float) -> tuple[int, float, str, str]:
    """Run a load tool to completion: (exit code, its CPU seconds from wait4()'s rusage,
    stdout, stderr)."""
    out_file = BASE_DIR / "bench" / "data" / f"tool-{os.getpid()}.out"
    err_file = out_file.with_suffix(".err")
    with out_file.open("w") as out, err_file.open("w") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    text_out, text_err = out_file.read_text(), err_file.read_text()
    out_file.unlink(missing_ok=True)
    err_file.unlink(missing_ok=True)
    return process.returncode, cpu, text_out, text_err


# --- the app server -------------------------------------------------------------------------


class Server:
    """gunicorn (the project's config/gunicorn.conf.py) or granian serving config.wsgi."""

    def __init__(self, *, kind: str, port: int, workers: int, env: dict, log: Path):
        self.kind, self.port, self.workers, self.env, self.log = kind, port, workers, env, log
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [
                str(BIN / "gunicorn"),
                "-c",
                str(BASE_DIR / "config" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                # Recycling a worker costs a Django start-up; keep it out of the figures.
                "--max-requests",
                "0",
                "config.wsgi",
            ]
        if self.kind == "granian":
            return [
                str(BIN / "granian"),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-ws",
                "--log-level",
                "warning",
                "config.wsgi:application",
            ]
        raise ValueError(self.kind)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log.open("w")
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=BASE_DIR,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited; see {self.log}")
            try:
                # Our own server on 127.0.0.1, plain http.
                with urllib.request.urlopen(f"{self.url}/bench/b0", timeout=2) as response:  # noqa: S310
                    if response.status == 200 and self._workers_up():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} did not answer within 60 s; see {self.log}")

    def _workers_up(self) -> bool:
        # The master plus one process per worker.
        return len(self.pids()) >= self.workers + 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return descendants(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


# --- load tools -------------------------------------------------------------------------------


def wrk(
    *,
    url: str,
    lines: Path,
    out: Path,
    duration: float,
    connections: int,
    threads: int = 1,
    track: bool = False,
) -> dict:
    env = {
        **os.environ,
        "BENCH_LINES": str(lines),
        "BENCH_OUT": str(out),
        "BENCH_THREADS": str(threads),
        "BENCH_TRACK": "1" if track else "0",
    }
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{int(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(BASE_DIR / "bench" / "lua" / "replay.lua"),
        url,
    ]
    code, cpu, stdout, stderr = run_tool(command, env, timeout=duration + 60)
    if code != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({code}): {stderr or stdout}")
    result = json.loads(out.read_text())
    seconds = result["duration_us"] / 1e6
    result["rps"] = round(result["requests"] / seconds, 1)
    result["tool_cpu_seconds"] = round(cpu, 2)
    result["tool_cpu_share"] = round(cpu / (seconds * CORES), 3)
    result["acks_file"] = str(out) + ".acks"
    return result


def openloop(
    *, port: int, lines: Path, out: Path, rate: float, duration: float, track: bool
) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.openloop",
        "--lines",
        str(lines),
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--port",
        str(port),
        "--out",
        str(out),
    ] + (["--track"] if track else [])
    code, cpu, stdout, stderr = run_tool(
        command, {**os.environ, "PYTHONPATH": str(BASE_DIR)}, timeout=duration + 60
    )
    if code != 0 or not out.exists():
        raise RuntimeError(f"open-loop client failed ({code}): {stderr or stdout}")
    result = json.loads(out.read_text())
    result["tool_cpu_seconds"] = round(cpu, 2)
    result["tool_cpu_share"] = round(cpu / (result["client_wall_seconds"] * CORES), 3)
    result["acks_file"] = str(out) + ".acks"
    return result


TPS_RE = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
LAT_RE = re.compile(r"latency average = ([\d.]+) ms")


def pgbench(
    *, dsn_args: list[str], scripts: list[tuple[Path, int]], clients: int, duration: float
) -> dict:
    command = [
        "pgbench",
        "-n",
        # Prepared, as the app's connections send identify's statements (a statement is
        # prepared on a connection's fifth run, so in a load run nearly always).
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "1",
        "-T",
        str(int(duration)),
        *[arg for path, weight in scripts for arg in ("-f", f"{path}@{weight}")],
        *dsn_args,
    ]
    code, cpu, stdout, stderr = run_tool(command, dict(os.environ), timeout=duration + 60)
    tps = TPS_RE.search(stdout)
    if code != 0 or not tps:
        raise RuntimeError(f"pgbench failed ({code}): {stderr[-2000:]}{stdout[-2000:]}")
    latency = LAT_RE.search(stdout)
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", stdout)
    return {
        "rps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "transactions": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else 0,
        "tool_cpu_seconds": round(cpu, 2),
        "tool_cpu_share": round(cpu / (duration * CORES), 3),
    }
