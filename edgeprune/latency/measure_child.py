"""The measuring child process: the one process on a device server that loads, checks and times
models (runs in the child; the server's handle on it is measuring_process.py).

A model is untrusted input that runs: a 767-byte ONNX file can hold the device for hours (big
MatMuls built at run time) or ask for gigabytes (a ConstantOfShape sized at run time). In its
own process it can be killed at any moment, by the server's clock, without the server or its
other clients noticing, and its memory is capped by the kernel.

The memory cap is RLIMIT_DATA at what the child holds once its runtime is loaded plus the
server's `--max-memory-mb`. RLIMIT_DATA (Linux >= 4.7) counts private writable memory: heap,
anonymous mappings, thread stacks; that is where a runtime puts a model's tensors. RLIMIT_AS
would also count address space that is only reserved: CUDA reserves far more than a board's
memory when it starts, so a cap in RLIMIT_AS would stop CUDA from starting at all. A cgroup
needs a writable, delegated cgroup tree, which the Jetson container (deploy/jetson, plain
`docker run` without --privileged) does not have; `docker run --memory` caps the container as
a whole on top. GPU memory is capped by the backends themselves (Backend.limit_memory).

Messages on the pipe are JSON (never pickles: the child runs untrusted models).
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from edgeprune.errors import (
    EdgepruneError,
    MeasurementCancelled,
    MemoryLimitExceeded,
    ModelRejected,
)
from edgeprune.latency.protocol import Protocol, stop_checked

MAX_MESSAGE_BYTES = 1 << 20  # a LatencyResult is a few KB
PARENT_CHECK_S = 0.5
# How the runtimes say an allocation failed under the cap: ONNX Runtime "Failed to allocate
# memory", C++ "std::bad_alloc", CUDA/TensorRT "out of memory".
ALLOCATION_FAILED = re.compile(r"allocat|bad_alloc|out of memory", re.IGNORECASE)


def send(conn: Connection, message: dict) -> None:
    conn.send_bytes(json.dumps(message).encode())


def receive(conn: Connection) -> dict:
    """The next message; EOFError when the other side is gone."""
    return json.loads(conn.recv_bytes(MAX_MESSAGE_BYTES))


def child_main(conn: Connection, backend_name: str, options: dict, memory_bytes: int) -> None:
    """The child's whole life: make the backend, cap memory, say ready, serve jobs until the
    server closes the pipe. Every answer is one message; nothing is printed."""
    # Ctrl-C in a terminal signals the whole process group: the server decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    try:
        from edgeprune.latency.backends import create_backend

        backend = create_backend(backend_name, **options)
        backend.limit_memory(memory_bytes)
        info = backend.info()
        mechanism = cap_memory(memory_bytes)
    except Exception as exc:  # told to the server, which refuses to start with this line
        send(conn, {"kind": "failed", "error": _one_line(exc)})
        return
    send(conn, {"kind": "ready", "info": info, "memory_cap": mechanism})
    while True:
        try:
            message = receive(conn)
        except EOFError:
            return
        if message["kind"] == "measure":
            send(conn, measure(backend, conn, message))
        elif message["kind"] == "info":
            send(conn, {"kind": "info", "info": backend.info()})
        # a "stop" that arrives after its job ended has nothing left to stop


def measure(backend, conn: Connection, job: dict) -> dict:
    """One job: {"model" or "unit", "reference", "shape", "precision", "protocol"} -> one
    answer. A "unit" (a layer unit of a table, server_units.py) is built here, under this
    process's memory cap, never in the server's process."""

    def check() -> None:  # between runs; the only message that can arrive during a job is a stop
        if conn.poll():
            raise MeasurementCancelled("stopped by the server")

    reference = Path(job["reference"]) if job.get("reference") else None
    shape = tuple(job["shape"])
    protocol = Protocol().with_overrides(job["protocol"])
    try:
        model = _unit_model(job["unit"]) if job.get("unit") else Path(job["model"])
        with stop_checked(check):
            if reference is not None:
                result = backend.measure_interleaved(model, reference, shape, job["precision"],
                                                     protocol)
            else:
                result = backend.measure(model, shape, job["precision"], protocol)
        return {"kind": "result", "result": result.to_json(), "info": backend.info()}
    except MeasurementCancelled:
        return {"kind": "cancelled"}
    except MemoryError:
        return {"kind": "memory", "error": "out of memory"}
    except MemoryLimitExceeded as exc:
        return {"kind": "memory", "error": _one_line(exc)}
    except ModelRejected as exc:
        message = _one_line(exc)
        return {"kind": "memory" if ALLOCATION_FAILED.search(message) else "rejected",
                "error": message}
    except EdgepruneError as exc:
        message = _one_line(exc)
        return {"kind": "memory" if ALLOCATION_FAILED.search(message) else "failed",
                "error": message}
    except Exception as exc:  # anything a model does to a runtime ends here, not in a traceback
        return {"kind": "failed", "error": f"internal error: {type(exc).__name__}: "
                                           f"{_one_line(exc)}"}


def _unit_model(unit: dict) -> bytes:
    from edgeprune.latency.lut import LayerQuery, query_onnx

    return query_onnx(LayerQuery.from_json(unit))


def cap_memory(extra_bytes: int) -> str:
    """Caps this process's private writable memory at what it holds now plus `extra_bytes`;
    returns the mechanism's name for /info."""
    used = _status_kib("VmData") * 1024
    limit = used + extra_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return "RLIMIT_DATA"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise EdgepruneError(f"/proc/self/status has no {field}: cannot cap the measuring "
                         f"process's memory on this system")


def _exit_with_parent() -> None:
    """A killed server leaves no measuring process behind, even one inside a long run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":  # measuring_process.py starts: FD BACKEND OPTIONS_JSON MEMORY_BYTES
    child_main(Connection(int(sys.argv[1])), sys.argv[2], json.loads(sys.argv[3]),
               int(sys.argv[4]))
