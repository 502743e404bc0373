"""Helpers shared by the benchmark scripts (``inbound.py``, ``inbound_cpu.py``,
``optimove.py``, ``console.py``, ``dispatch.py``, ``classify.py``, ``reply_latency.py``).

The scripts are run as ``.venv/bin/python bench/<name>.py``, so ``bench/`` is
``sys.path[0]`` and they import this module as ``from common import ...``. It imports
only the standard library at the top (SQLAlchemy inside the functions that need it), so
a script can still tell the user to run it with the project's virtualenv.
``bench/bare_app.py`` (run by gunicorn with ``--chdir bench``) does not use it.

What is here: the error type of a failed run, ``log``, loopback ports, medians, load,
CPU and memory readings from ``/proc``, the wait for a quiet machine, gunicorn
start/stop, the Topaz simulator in a process of its own, the benchmark databases (a SQLite file in a temporary folder, a
``roko_bench_<random>`` PostgreSQL database on a loopback server, both removed at the
end) and their migrations, and the frame of a run: the ``--backend`` option, SIGTERM
handling, the results folder and command line, the machine and code description
written into the results JSON, and the final verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
QUIET_CORES = 0.3  # wait_for_quiet: the machine counts as quiet below this many busy cores
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark could not run or a correctness check failed (as opposed to: it ran
    and a target was missed)."""


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# --------------------------------------------------------------------------- machine


def loadavg() -> float:
    """The machine's 1-minute load average (other work on a shared machine shows here)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return float("nan")


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` (Linux ``/proc/<pid>/stat``;
    a process that is gone counts 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, steal) CPU seconds of the whole machine so far, from /proc/stat
    (busy includes steal: time the hypervisor gave our virtual CPUs to someone else)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    steal = values[7] if len(values) > 7 else 0
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS, steal / CLOCK_TICKS


def wait_for_quiet(max_wait: float, threshold: float = QUIET_CORES) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until the machine used less than ``threshold`` cores
    over one second: on a shared machine, do not start a round in the middle of someone
    else's burst. Returns (seconds waited, cores busy in the last second)."""
    started = time.monotonic()
    while True:
        busy_before, sampled = machine_cpu()[0], time.monotonic()
        time.sleep(1.0)
        cores = (machine_cpu()[0] - busy_before) / (time.monotonic() - sampled)
        waited = time.monotonic() - started
        if cores < threshold or waited >= max_wait:
            return waited, cores


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of ``pid``, in kB (/proc's kB are KiB)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0])
    return found


# --------------------------------------------------------------------------- gunicorn


def server_env(**roko: str) -> dict[str, str]:
    """The caller's environment without any ROKO_* setting, plus ``roko``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROKO_")}
    env.update(roko)
    return env


def spawn_gunicorn(options: list[str], env: dict[str, str], log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    """``python -m gunicorn <options>`` from the project folder, its output appended to
    ``log_file``, in a session of its own (so that ``stop_gunicorn`` reaches its workers)."""
    return subprocess.Popen([sys.executable, "-m", "gunicorn", *options], cwd=ROOT, env=env, stdout=log_file,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_healthz(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Poll ``GET /healthz`` on the loopback ``port`` until it answers 200 (True), or until
    ``proc`` exits or ``timeout`` seconds pass (False; ``proc.poll()`` tells which)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    return False


def stop_gunicorn(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM (gunicorn: graceful shutdown of master and workers); after ``timeout``
    seconds SIGKILL to its session (``spawn_gunicorn`` gave it its own: only its workers)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@dataclass
class Server:
    """A gunicorn master (``-w <workers> -k sync``, 2 workers by default) serving
    ``app_spec`` on a free loopback port."""

    name: str
    app_spec: str
    env: dict[str, str]
    log_path: Path
    chdir: Path = ROOT
    workers: int = 2
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log_file: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = spawn_gunicorn(["-w", str(self.workers), "-k", "sync", "-b", f"{HOST}:{self.port}",
                                    "--log-level", "warning", "--chdir", str(self.chdir), self.app_spec],
                                   self.env, self._log_file)
        if not wait_for_healthz(self.proc, self.port, 30):
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name}: gunicorn exited with {self.proc.returncode}; "
                                 f"see {self.log_path}:\n{self.log_tail()}")
            raise BenchError(f"{self.name}: gunicorn did not answer /healthz within 30 s; see {self.log_path}")

    def stop(self) -> None:
        stop_gunicorn(self.proc, 15)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        if self.proc is None:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            return [int(pid) for pid in children]
        except OSError:  # kernels without CONFIG_PROC_CHILDREN: scan /proc
            pids = []
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        pids.append(int(stat.parent.name))
            return pids

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- the Topaz simulator


@dataclass
class Simulator:
    """``python -m roko_app.gateway.simulator`` in a process of its own on a free loopback
    port, requiring ``token`` on sends; its output goes to ``log_path``."""

    log_path: Path
    token: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def options(self) -> list[str]:
        """Further command-line options of the simulator (a subclass adds its own)."""
        return []

    def start(self) -> None:
        self.port = self.port or free_port()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "roko_app.gateway.simulator", "--host", HOST, "--port", str(self.port),
                 "--token", self.token, *self.options()],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if self._call("GET", "/health", timeout=2) == {"status": "ok"}:
                    return
            time.sleep(0.1)
        raise BenchError(f"the simulator did not start; see {self.log_path}")

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"the simulator process is gone (exit status {self.proc and self.proc.returncode}); "
                             f"see {self.log_path}")

    def sends(self) -> list[dict[str, Any]]:
        """Every send it accepted, in order (``GET /sent``)."""
        return list(self._call("GET", "/sent")["messages"])

    def clear(self) -> None:
        self._call("DELETE", "/sent")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def _call(self, method: str, path: str, timeout: float = 60) -> Any:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError(f"simulator {method} {path}: HTTP {response.status} {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def sqlite_database(prefix: str = "roko-bench-") -> Iterator[str]:
    """The URL of a new SQLite file in a temporary folder (named ``<prefix>...``),
    removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield "sqlite:///" + str(folder / "bench.db")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database ``roko_bench_<random>`` created through
    ``admin_url`` (``--pg-url``: a loopback server only; ``postgresql://`` is read as
    ``postgresql+psycopg://``). At the end, also on error, it is dropped ``WITH (FORCE)``;
    a failed drop is logged as a warning and does not hide the original error."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if admin_url.startswith("postgresql://"):
        admin_url = "postgresql+psycopg://" + admin_url[len("postgresql://"):]
    if make_url(admin_url).host not in (None, "127.0.0.1", "localhost", "::1"):
        raise BenchError("--pg-url must point at a loopback server")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"roko_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise BenchError(f"cannot create the benchmark database on "
                         f"{make_url(admin_url).render_as_string()}: {exc}") from exc
    log(f"created PostgreSQL database {name}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            log(f"dropped PostgreSQL database {name}")
        except Exception as exc:  # report it, but do not hide the original error
            log(f"WARNING: could not drop database {name}: {exc}; drop it by hand")
        admin.dispose()


@contextlib.contextmanager
def migrated_database(backend: str, pg_url: str, sqlite_prefix: str = "roko-bench-") -> Iterator[str]:
    """The URL of a fresh database for ``backend`` (``sqlite``: ``sqlite_database``;
    ``postgresql``: ``postgres_database`` through ``pg_url``) with the schema of the real
    migrations (``upgrade``); removed at the end."""
    database = sqlite_database(sqlite_prefix) if backend == "sqlite" else postgres_database(pg_url)
    with database as url:
        upgrade(url)
        yield url


@contextlib.contextmanager
def database_copy(database_url: str, pg_url: str) -> Iterator[str]:
    """The URL of a copy of the prepared database ``database_url``, removed at the end.

    SQLite: the file is checkpointed (WAL folded in) and copied beside it. PostgreSQL:
    ``CREATE DATABASE <copy> TEMPLATE <original>`` through ``pg_url`` (nobody may be
    connected to the original meanwhile), dropped ``WITH (FORCE)`` at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = Path(str(url.database))
        with contextlib.closing(sqlite3.connect(source)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        target = source.with_name(f"copy-{uuid.uuid4().hex[:8]}.db")
        shutil.copyfile(source, target)
        try:
            yield url.set(database=str(target)).render_as_string(hide_password=False)
        finally:
            for path in target.parent.glob(target.name + "*"):
                path.unlink(missing_ok=True)
        return
    if pg_url.startswith("postgresql://"):
        pg_url = "postgresql+psycopg://" + pg_url[len("postgresql://"):]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"{url.database}_copy_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:  # report it, but do not hide the original error
            log(f"WARNING: could not drop database {name}: {exc}; drop it by hand")
        admin.dispose()


def upgrade(database_url: str) -> None:
    """The real migrations: ``flask --app wsgi db upgrade`` on ``database_url``."""
    env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=database_url, ROKO_LOG_LEVEL="WARNING")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"flask db upgrade failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def server_version(database_url: str) -> str:
    """``SQLite <version>``, or ``PostgreSQL <version> (synchronous_commit=..., fsync=...)``."""
    if database_url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
            fsync = conn.execute(text("SHOW fsync")).scalar_one()
        return f"PostgreSQL {version} (synchronous_commit={sync}, fsync={fsync})"
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- runs and results


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A script's command line: the first paragraph of its docstring ``doc`` as the
    description, and ``--backend sqlite|postgresql|both`` (default both)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    return parser


def exit_on_sigterm() -> None:
    """Make SIGTERM exit (status 143) through the cleanups: the ``finally`` blocks stop
    the servers and drop the database."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def have_sqlalchemy(script: str) -> bool:
    """Whether SQLAlchemy imports; when it does not, says to run ``bench/<script>.py``
    with the project's virtualenv."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        log(f"SQLAlchemy is missing: run this with the project's virtualenv, .venv/bin/python bench/{script}.py")
        return False
    return True


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, ``?`` when unknown."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def machine() -> dict[str, Any]:
    """The ``machine`` of a results JSON: CPUs, kernel, Python, package versions, load."""
    versions = {}
    for package in ("flask", "werkzeug", "sqlalchemy", "gunicorn", "psycopg"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "loadavg_start": os.getloadavg(),
    }


def describe_run(command: str, **extra: str) -> dict[str, Any]:
    """The run's ``machine`` (``extra`` added, e.g. the load tool's version) with the code
    measured, logged as the run's first lines."""
    info = machine()
    info.update(extra)
    info["code"] = code_version()
    load = " ".join(f"{x:.2f}" for x in info["loadavg_start"])
    log(f"{command}\n{info['nproc']} x {info['cpu_model']}, load {load}{''.join(', ' + v for v in extra.values())}\n"
        f"code: commit {info['code']['commit']}, {info['code']['modified_files']} tracked file(s) modified")
    return info


def selected_backends(backend: str) -> list[str]:
    """The backends of ``--backend`` (``both``: SQLite, then PostgreSQL)."""
    return ["sqlite", "postgresql"] if backend == "both" else [backend]


def code_version(list_files: bool = False) -> dict[str, Any]:
    """Which code was measured: the commit and whether the work tree differed from it
    (``modified_files``: how many tracked files differ or, with ``list_files``, their
    ``git status --porcelain`` lines; None when git did not answer)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else "?"

    status = git("status", "--porcelain", "--untracked-files=no")
    modified: int | list[str] | None = None
    if status != "?":
        modified = status.splitlines() if list_files else len(status.splitlines())
    return {"commit": git("rev-parse", "--short", "HEAD"), "modified_files": modified}


def start_run(script: str, argv: list[str] | None) -> tuple[datetime, str, Path, str]:
    """The start of a run of ``bench/<script>.py``: its time (UTC), its stamp
    (``%Y%m%d-%H%M%S``), the folder ``bench/results/<script>-<stamp>-logs`` (created) and
    the command that repeats the run (``argv`` None: ``sys.argv[1:]``)."""
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / f"{script}-{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    given = sys.argv[1:] if argv is None else argv
    command = f"cd {ROOT} && .venv/bin/python bench/{script}.py" + (" " + shlex.join(given) if given else "")
    return started, stamp, logs, command


def verdict(met: bool) -> int:
    """Log whether every target was met; the exit status: 0 when they were, 1 when one was missed."""
    log("all targets met" if met else "target missed")
    return 0 if met else 1
