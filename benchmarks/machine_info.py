"""What a benchmark result file records about the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess


def uptime() -> str:
    """`uptime`'s line (the load averages show how shared the machine was)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False,
                              timeout=5).stdout.strip()
    except OSError:
        return "load: " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine_line() -> str:
    import onnxruntime

    from edgeprune.latency.device import cpu_name

    return (f"{cpu_name()}, {os.cpu_count()} logical CPUs, {platform.machine()}, Python "
            f"{platform.python_version()}, onnxruntime {onnxruntime.__version__}")


def commit() -> str:
    """The short git commit of the tree the benchmark ran from ('?' outside a clone)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False, timeout=5).stdout.strip() or "?"
    except OSError:
        return "?"


def cpu_share() -> str:
    """The CPUs this process may run on and its niceness: a workplace may pin a session's
    processes to fewer cores than the machine has, which caps any parallel speedup."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (f"this process may run on CPU(s) {', '.join(map(str, allowed)) or '?'} of "
            f"{os.cpu_count()}, nice {os.nice(0)}")
