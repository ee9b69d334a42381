"""Who is measuring: CPU model and threads, GPU name, Jetson board and power mode.

Everything here reads files or asks small tools with a short timeout; a value that cannot be
read is None, never an error, because identity is best effort on unknown boards.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

from edgeprune.latency.result import DeviceIdentity

CPUINFO = Path("/proc/cpuinfo")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
NVPMODEL_CONF = Path("/etc/nvpmodel.conf")
NVPMODEL_STATUS = Path("/var/lib/nvpmodel/status")


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The CPU model as /proc/cpuinfo names it (x86: 'model name'; ARM: 'Hardware'/'Model')."""
    text = _read(cpuinfo) or ""
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match and match.group(1).strip():
            return " ".join(match.group(1).split())
    return platform.processor() or platform.machine() or "unknown CPU"


def jetson_board(model_file: Path = DEVICE_TREE_MODEL) -> str | None:
    """'NVIDIA Jetson Xavier NX Developer Kit' on a Jetson, None elsewhere."""
    text = _read(model_file)
    if text is None:
        return None
    model = text.replace("\x00", "").strip()
    return model if "jetson" in model.lower() else None


def jetson_power_mode(conf: Path = NVPMODEL_CONF, status: Path = NVPMODEL_STATUS,
                      query: bool = True) -> str | None:
    """The active nvpmodel mode ('MAXN', '15W 6CORE' ...), or None when it cannot be read.

    `nvpmodel -q` answers when it is installed and we may run it; otherwise the mode id in
    /var/lib/nvpmodel/status (or the conf's default) is looked up in /etc/nvpmodel.conf.
    """
    if query:
        mode = _nvpmodel_query()
        if mode:
            return mode
    conf_text = _read(conf)
    if conf_text is None:
        return None
    names = dict(re.findall(r"<\s*POWER_MODEL\s+ID\s*=\s*(\d+)\s+NAME\s*=\s*([^\s>]+)",
                            conf_text))
    mode_id = None
    status_text = _read(status)
    if status_text:
        match = re.search(r"pmode\s*:\s*(\d+)", status_text)
        if match:
            mode_id = str(int(match.group(1)))
    if mode_id is None:
        match = re.search(r"<\s*PM_CONFIG\s+DEFAULT\s*=\s*(\d+)", conf_text)
        mode_id = match.group(1) if match else None
    if mode_id is None:
        return None
    return names.get(mode_id, f"mode {mode_id}")


def _nvpmodel_query() -> str | None:
    try:
        done = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=3,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"NV Power Mode\s*:\s*(\S+)", done.stdout)
    return match.group(1) if match else None


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity, e.g. under taskset or a container's
    cpuset), which is what threads can use; all of the machine's where that is unknown."""
    try:
        return len(os.sched_getaffinity(0)) or os.cpu_count() or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_identity(threads: int | None) -> DeviceIdentity:
    """The local CPU, measured with `threads` intra-op threads."""
    board = jetson_board()
    return DeviceIdentity(kind="jetson" if board else "cpu", name=cpu_name(),
                          machine=platform.machine(), threads=threads, cores=os.cpu_count(),
                          board=board, power_mode=jetson_power_mode() if board else None)


def gpu_identity(gpu_name: str) -> DeviceIdentity:
    """A local CUDA GPU (a Jetson's integrated GPU included) named `gpu_name`."""
    board = jetson_board()
    return DeviceIdentity(kind="jetson" if board else "cuda", name=gpu_name,
                          machine=platform.machine(), cores=os.cpu_count(), board=board,
                          power_mode=jetson_power_mode() if board else None)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
