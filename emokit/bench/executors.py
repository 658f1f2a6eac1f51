"""Where cells run: in this process (``--jobs 1``), in local worker processes (``--jobs N``), or as
Ray tasks on a cluster (``--executor ray``).

Every executor runs the same :class:`~emokit.bench.units.UnitRunner` on the same
:class:`~emokit.bench.units.RunData`, so it changes where and when a cell runs, never what it
computes. The main process keeps the result file and the live view: executors hand it each event
with the *slot* (0, 1, ...) the cell runs in, for the live view's one line per running cell.

Failures: a cell whose method raises is recorded by the unit itself. A worker that dies (killed by
the OS for memory, a segfault in native code) fails the cell it was running, with the signal named;
the rest of its unit runs in a fresh worker. Ctrl-C stops every worker; the cells finished before
are in the result file already.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import re
import signal
import socket
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from emokit.bench.results import cell_key
from emokit.bench.units import (
    CellDone,
    CellStarted,
    Event,
    MethodProgress,
    RunData,
    UnitRunner,
    WorkUnit,
    cell_description,
    failed_cell,
)

#: called with each event and the slot its cell runs in
EventHandler = Callable[[Event, int], None]
#: a unit whose worker died this many times without finishing a cell is failed as a whole
MAX_DEATHS_PER_UNIT = 2


class ExecutorError(ValueError):
    """An executor that cannot start (ray missing, an address that does not answer, a method that
    cannot travel to worker processes); the message says what to do."""


def check_picklable(methods: dict[str, Any], jobs: int) -> None:
    """Refuse, naming them, the method objects that cannot be sent to worker processes.

    Raises:
        ExecutorError: with each method and why pickling it failed.
    """
    problems = []
    for name, method in methods.items():
        try:
            pickle.dumps(method)
        except Exception as exc:
            problems.append(f"{name} ({type(exc).__name__}: {exc})")
    if problems:
        raise ExecutorError(
            f"--jobs {jobs}: these methods cannot be sent to worker processes (they must be "
            f"picklable): {'; '.join(problems)}; define them at module level, or run with --jobs 1"
        )


def unit_events(runner: UnitRunner, unit: WorkUnit) -> Iterator[Any]:
    """``unit``'s events, then a :class:`_UnitCrashed` if it raised outside any cell."""
    try:
        yield from runner.run(unit)
    except Exception as exc:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        yield _UnitCrashed(unit.index, type(exc).__name__, str(exc), trace)


def fail_remaining(
    data: RunData,
    unit: WorkUnit,
    finished: set,
    slot: int,
    on_event: EventHandler,
    kind: str,
    message: str,
    trace: str | None,
) -> None:
    """Record every cell of ``unit`` that is neither skipped nor ``finished`` as failed."""
    exp = data.config.experiments[unit.experiment]
    for key in unit.keys(data.config):
        k = cell_key(key)
        if k in unit.skip or k in finished:
            continue
        where = cell_description(exp, key["budget"]["label"], key["fold"], unit.repeat)
        cell = failed_cell(key, exp, None, where, error_type=kind, message=message, trace=trace)
        finished.add(k)
        on_event(CellDone(unit.index, cell, None), slot)


# -- in this process ------------------------------------------------------------------------------
class InProcessExecutor:
    """``--jobs 1``: every unit in this process, one after another."""

    name = "local"

    def __init__(self, data: RunData, methods: dict[str, Any]) -> None:
        self.runner = UnitRunner(data, methods)
        self.slots = 1

    def run(self, units: list[WorkUnit], on_event: EventHandler) -> None:
        self.runner.progress_sink = lambda event: on_event(event, 0)
        for unit in units:
            for event in self.runner.run(unit):
                on_event(event, 0)

    def close(self) -> None:
        pass


# -- local worker processes -----------------------------------------------------------------------
@dataclass
class _UnitCrashed:
    """A unit raised outside any cell (a bug in the runner, or a method's import failing)."""

    unit: int
    type: str
    message: str
    traceback: str


@dataclass
class _UnitFinished:
    unit: int


def _worker_main(conn: Connection) -> None:
    """A worker process: receive the run's data once, then units until told to stop."""
    # Ctrl-C reaches the whole process group: the main process alone decides, and stops workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data, methods = pickle.loads(conn.recv_bytes())
    runner = UnitRunner(data, methods)
    runner.progress_sink = conn.send
    while True:
        unit = conn.recv()
        if unit is None:
            return
        for event in unit_events(runner, unit):
            conn.send(event)
        conn.send(_UnitFinished(unit.index))


@dataclass
class _Worker:
    slot: int
    process: Any
    conn: Connection
    unit: WorkUnit | None = None
    current: CellStarted | None = None
    finished: set = field(default_factory=set)  # cell keys of the current unit recorded so far
    sender: threading.Thread | None = None  # sending the run's data, at the start


def kind_of(exc: BaseException) -> str:
    return type(exc).__name__


def death_reason(exitcode: int | None) -> str:
    """How a worker process ended, in words (a negative exit code is the signal that killed it)."""
    if exitcode is None:
        return "the worker process stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = " (the OS's out-of-memory killer sends it)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{why}"
    return f"the worker process exited with status {exitcode}"


class LocalPoolExecutor:
    """``--jobs N``: up to N spawned worker processes on this machine, each sent the run's data
    once, each running one unit at a time with the run's torch threads."""

    name = "local"

    def __init__(self, data: RunData, methods: dict[str, Any], jobs: int) -> None:
        self.data = data
        self.slots = jobs
        self.payload = pickle.dumps((data, methods), protocol=pickle.HIGHEST_PROTOCOL)
        self._context = get_context("spawn")  # fork is unsafe with torch's threads and CUDA
        self._workers: list[_Worker] = []
        self._deaths: dict[int, int] = {}

    def _start(self, slot: int) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        threads = str(self.data.runtime.threads)
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)  # inherited at start
        try:
            process = self._context.Process(target=_worker_main, args=(child,), daemon=True)
            process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()
        # the payload (megabytes) fills the pipe until the worker has imported torch and reads it:
        # send it from a thread, so that every worker starts at once
        sender = threading.Thread(target=parent.send_bytes, args=(self.payload,), daemon=True)
        sender.start()
        return _Worker(slot, process, parent, sender=sender)

    def run(self, units: list[WorkUnit], on_event: EventHandler) -> None:
        pending = deque(units)
        try:
            while pending or any(w.unit is not None for w in self._workers):
                self._assign(pending)
                busy = [w for w in self._workers if w.unit is not None]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.conn in ready:
                        self._receive(worker, pending, on_event)
                    elif worker.process.sentinel in ready and worker in self._workers:
                        self._died(worker, pending, on_event)
        except BaseException:
            self.close(force=True)
            raise

    def _assign(self, pending: deque[WorkUnit]) -> None:
        used = {w.slot for w in self._workers}
        idle = sum(w.unit is None for w in self._workers)
        while len(pending) > idle and len(self._workers) < self.slots:  # start them all, then give
            slot = min(s for s in range(self.slots) if s not in used)
            used.add(slot)
            self._workers.append(self._start(slot))
            idle += 1
        for worker in self._workers:
            if worker.unit is None and pending:
                self._give(worker, pending.popleft())

    def _give(self, worker: _Worker, unit: WorkUnit) -> None:
        worker.unit, worker.current, worker.finished = unit, None, set()
        if worker.sender is not None:  # the payload first
            worker.sender.join()
            worker.sender = None
        worker.conn.send(unit)

    def _receive(self, worker: _Worker, pending: deque[WorkUnit], on_event: EventHandler) -> None:
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                self._handle(worker, message, on_event)
                if worker.unit is None:
                    return
        except (EOFError, OSError):
            self._died(worker, pending, on_event)

    def _handle(self, worker: _Worker, message: Any, on_event: EventHandler) -> None:
        unit = worker.unit
        assert unit is not None
        if isinstance(message, CellStarted):
            worker.current = message
        elif isinstance(message, CellDone):
            worker.current = None
            worker.finished.add(cell_key(message.cell))
        elif isinstance(message, _UnitCrashed):
            self._fail_rest(
                worker, on_event, message.type, f"{message.message} (outside any cell)", message.traceback
            )
            return
        elif isinstance(message, _UnitFinished):
            worker.unit, worker.current = None, None
            return
        if isinstance(message, (CellStarted, CellDone, MethodProgress)):
            on_event(message, worker.slot)

    def _fail_rest(
        self, worker: _Worker, on_event: EventHandler, kind: str, message: str, trace: str | None
    ) -> None:
        assert worker.unit is not None
        fail_remaining(self.data, worker.unit, worker.finished, worker.slot, on_event, kind, message, trace)

    def _died(self, worker: _Worker, pending: deque[WorkUnit], on_event: EventHandler) -> None:
        """A worker ended while running a unit: fail its running cell, run the rest elsewhere."""
        with contextlib.suppress(EOFError, OSError):  # what it sent before dying still counts
            while worker.unit is not None and worker.conn.poll():
                self._handle(worker, worker.conn.recv(), on_event)
        worker.process.join(timeout=5)
        reason = death_reason(worker.process.exitcode)
        self._workers.remove(worker)
        worker.conn.close()
        unit = worker.unit
        if unit is None:
            return
        exp = self.data.config.experiments[unit.experiment]
        if worker.current is not None:
            started = worker.current
            cell = failed_cell(
                started.key,
                exp,
                None,
                started.where,
                error_type="WorkerDied",
                message=f"{reason} in this cell",
            )
            worker.finished.add(cell_key(started.key))
            on_event(CellDone(unit.index, cell, None), worker.slot)
        else:
            self._deaths[unit.index] = self._deaths.get(unit.index, 0) + 1
            if self._deaths[unit.index] >= MAX_DEATHS_PER_UNIT or not worker.finished:
                self._fail_rest(worker, on_event, "WorkerDied", f"{reason} before its cell started", None)
                return
        rest = replace(unit, skip=unit.skip | frozenset(worker.finished))
        if any(cell_key(k) not in rest.skip for k in rest.keys(self.data.config)):
            pending.appendleft(rest)

    def close(self, force: bool = False) -> None:
        """Stop every worker (``force``: at once, e.g. on Ctrl-C)."""
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                if force:
                    worker.process.terminate()
                else:
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=2 if force else 10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers = []


# -- Ray --------------------------------------------------------------------------------------------
RAY_INSTALL_HINT = "pip install 'emokit[ray]'"


def check_ray_address(address: str | None) -> None:
    """Fail fast, before any work, when ray is not installed or ``address`` does not answer.

    Raises:
        ExecutorError: naming the package to install or the address that did not answer.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ExecutorError(
            f"--executor ray: ray is not installed; install it with {RAY_INSTALL_HINT}"
        ) from None
    if address is None or address == "auto":
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: expected HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise ExecutorError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
            "`ray start --head` or give the head node's address"
        ) from None


def _ray_unit(payload: tuple[RunData, dict[str, Any]], unit: WorkUnit) -> Iterator[Any]:
    """A Ray task: one unit's events, streamed back as they happen (progress included)."""
    data, methods = payload
    runner = UnitRunner(data, methods)
    events: queue.Queue = queue.Queue()
    runner.progress_sink = events.put
    done = object()

    def work() -> None:
        try:
            for event in unit_events(runner, unit):
                events.put(event)
        finally:
            events.put(done)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while (event := events.get()) is not done:
        yield event
    thread.join()


class RayExecutor:
    """``--executor ray``: each unit a Ray task (streaming its events back), on the cluster at
    ``address``, or on a local Ray instance of ``jobs`` CPUs. The run's data goes into Ray's object
    store once and every task reads it from there, so no shared filesystem is needed."""

    name = "ray"

    def __init__(self, data: RunData, methods: dict[str, Any], jobs: int, address: str | None) -> None:
        import ray

        check_ray_address(address)
        self.data = data
        self._started_here = not ray.is_initialized()
        if self._started_here:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if address is None:
                kwargs["num_cpus"] = jobs * data.runtime.threads
                # a local instance's workers import what this process imports (a plugin that is a
                # module on sys.path but not installed, too); a cluster's nodes need it installed
                paths = [p for p in sys.path if p and os.path.isdir(p)]
                kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except Exception as exc:
                raise ExecutorError(f"--executor ray: cannot start or reach Ray: {exc}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, cpus // data.runtime.threads)
        self.payload = ray.put((data, methods))
        gpus = 1 if data.runtime.device.startswith("cuda") else 0
        self._task = ray.remote(_ray_unit).options(
            num_returns="streaming", max_retries=0, num_cpus=data.runtime.threads, num_gpus=gpus
        )
        self._live: dict[Any, dict[str, Any]] = {}
        self._deaths: dict[int, int] = {}

    def run(self, units: list[WorkUnit], on_event: EventHandler) -> None:
        import ray

        live = self._live
        for unit in units:
            self._submit(unit)
        free = list(range(self.slots))
        try:
            while live:
                ready, _ = ray.wait(list(live), num_returns=1, timeout=1.0)
                for generator in ready:
                    state = live[generator]
                    if state["slot"] is None:
                        state["slot"] = free.pop(0) if free else len(live)
                    try:
                        message = ray.get(next(generator))
                    except StopIteration:
                        self._release(generator, free)
                        continue
                    except ray.exceptions.RayError as exc:
                        self._release(generator, free)
                        self._lost(state, exc, on_event)
                        continue
                    self._handle(state, message, on_event)
        except BaseException:
            self.close(force=True)
            raise

    def _release(self, generator: Any, free: list[int]) -> None:
        state = self._live.pop(generator)
        if isinstance(state["slot"], int) and state["slot"] < self.slots:
            free.append(state["slot"])
            free.sort()

    def _handle(self, state: dict[str, Any], message: Any, on_event: EventHandler) -> None:
        slot = state["slot"]
        if isinstance(message, CellStarted):
            state["current"] = message
        elif isinstance(message, CellDone):
            state["current"] = None
            state["finished"].add(cell_key(message.cell))
        elif isinstance(message, _UnitCrashed):
            self._fail_rest(
                state, on_event, message.type, f"{message.message} (outside any cell)", message.traceback
            )
            return
        on_event(message, slot)

    def _fail_rest(
        self, state: dict[str, Any], on_event: EventHandler, kind: str, message: str, trace: str | None
    ) -> None:
        fail_remaining(
            self.data, state["unit"], state["finished"], state["slot"], on_event, kind, message, trace
        )

    def _lost(self, state: dict[str, Any], exc: Exception, on_event: EventHandler) -> None:
        """A task that died (its worker killed, out of memory): its running cell fails, and the
        rest of its unit goes to a new task (Ray itself does not retry: a cell that kills its
        worker would kill the next one)."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # Ray colours its messages
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = lines[-1] if lines else kind_of(exc)  # the last line names the cause
        kind = type(exc).__name__
        unit: WorkUnit = state["unit"]
        started: CellStarted | None = state["current"]
        if started is not None:
            exp = self.data.config.experiments[unit.experiment]
            cell = failed_cell(
                started.key, exp, None, started.where, error_type=kind, message=first, trace=text
            )
            state["finished"].add(cell_key(started.key))
            on_event(CellDone(started.unit, cell, None), state["slot"])
        else:
            self._deaths[unit.index] = self._deaths.get(unit.index, 0) + 1
            if self._deaths[unit.index] >= MAX_DEATHS_PER_UNIT or not state["finished"]:
                self._fail_rest(
                    state, on_event, kind, f"the Ray task ended before this cell ran: {first}", None
                )
                return
        rest = replace(unit, skip=unit.skip | frozenset(state["finished"]))
        if any(cell_key(k) not in rest.skip for k in rest.keys(self.data.config)):
            self._submit(rest)

    def _submit(self, unit: WorkUnit) -> None:
        generator = self._task.remote(self.payload, unit)
        self._live[generator] = {"unit": unit, "slot": None, "current": None, "finished": set()}

    def close(self, force: bool = False) -> None:
        import ray

        if force:
            for generator in list(self._live):
                with contextlib.suppress(Exception):
                    ray.cancel(generator, force=True)
        self._live.clear()
        if self._started_here and ray.is_initialized():
            ray.shutdown()
