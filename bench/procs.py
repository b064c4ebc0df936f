"""Child processes of a bench run: free loopback ports, start, wait until they answer,
CPU time from /proc, and a stop that ends each child (and its own process group) by id."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """A part of the bench could not start or answer; the message says which and why."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the child binds it a moment later): any
    the system hands out, or one of ``BENCH_PORTS`` (``18100-18199``) when set, so runs
    sharing a machine can keep to ranges of their own."""
    wanted = os.environ.get("BENCH_PORTS", "")
    if not wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    first, _, last = wanted.partition("-")
    ports = range(int(first), int(last or first) + 1)
    for _ in range(2):  # once round the range, then again forgetting what was handed out
        for port in ports:
            if port in _handed_out:
                continue  # its child may not have bound it yet
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
        _handed_out.clear()
    raise BenchError(f"no free port in BENCH_PORTS={wanted}")


_handed_out: set[int] = set()


def die_with_parent() -> None:
    # Runs in the child before exec: if the runner is killed outright (SIGKILL), the
    # kernel sends the child SIGTERM, so no server outlives the bench.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """The servers of one run. Each starts in its own session, so stopping one
    signals its process group (a web server and its workers), nothing else."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        """Start ``argv`` from the repository root, its output going to ``<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # the runner has no threads
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop_all(self, grace_s: float = 5.0) -> None:
        for child in self.children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.process.wait(timeout=5)
        # A group may outlive its leader (a worker mid-shutdown): make sure it is gone.
        for child in self.children:
            _signal_group(child, signal.SIGKILL)
        self.children.clear()


def _signal_group(child: Child, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)  # the group id is the child's pid (own session)


def wait_http(url: str, child: Child, timeout_s: float = 30.0) -> None:
    """Return once ``url`` answers any HTTP status; fail early if ``child`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise BenchError(
                f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered, even if not with 200
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{child.name} did not answer {url} within {timeout_s:.0f} s")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def cpu_snapshot() -> dict[int, tuple[int, float]]:
    """Every live process: pid -> (parent pid, user + system CPU seconds so far)."""
    snapshot = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                ticks = int(fields[11]) + int(fields[12])  # utime, stime
                snapshot[int(entry)] = (int(fields[1]), ticks / CLOCK_TICKS)
    return snapshot


def tree_cpu(snapshot: dict[int, tuple[int, float]], root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (a web server and its workers)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in snapshot.items():
        children.setdefault(parent, []).append(pid)
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += snapshot.get(pid, (0, 0.0))[1]
        frontier += children.get(pid, [])
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and every live descendant, in seconds."""
    return tree_cpu(cpu_snapshot(), pid)


def _machine_ticks() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(v) for v in stat.readline().split()[1:9]]


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot (all cores)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = _machine_ticks()
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def stolen_seconds() -> float:
    """CPU seconds the hypervisor has given to other guests while this one wanted them
    (``steal`` in /proc/stat), since boot: a virtual machine's cores were not its own."""
    return _machine_ticks()[7] / CLOCK_TICKS


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_in_scratch(prefix: str, body: Callable[[Processes, Path], int]) -> int:
    """Run one bench command's ``body`` with a scratch folder and the processes it starts:
    every process is stopped however the run ends (Ctrl-C and SIGTERM included, exit 130),
    and the folder, with the processes' logs, is kept unless the run succeeded."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    procs = Processes(tmp)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    code = 1
    try:
        code = body(procs, tmp)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process of the run", flush=True)
        code = 130
    except BenchError as exc:
        print(f"\nbench failed: {exc}", flush=True)
    finally:
        procs.stop_all()
        if code == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", flush=True)
    return code
