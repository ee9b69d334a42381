"""Shared by the device server's abuse tests and its soak (benchmarks/agent_soak.py): tiny
models that are expensive at run time, raw sockets from chosen loopback addresses, and what
the server's processes hold in memory."""

from __future__ import annotations

import json
import socket
import urllib.parse
from pathlib import Path

from tests.latency.latency_helpers import TOKEN


def heavy_model(size: int = 4096, count: int = 20) -> bytes:
    """`count` chained size x size MatMuls on a matrix built at run time from the input (a
    few hundred bytes; one run is seconds to minutes of compute)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["c"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1e-3])),
             helper.make_node("Add", ["c", "x"], ["w"])]
    previous = "w"
    for index in range(count):
        nodes.append(helper.make_node("MatMul", [previous, "w"], [f"m{index}"]))
        previous = f"m{index}"
    nodes.append(helper.make_node("ReduceMean", [previous], ["y"], keepdims=1))
    return _model(nodes, [helper.make_tensor("shape", TensorProto.INT64, [2], [size, size])],
                  "heavy")


def memory_bomb(nbytes: int = 1 << 30) -> bytes:
    """A ConstantOfShape of `nbytes` sized at run time from the input's value, so no
    load-time folding sees it (a few hundred bytes of ONNX)."""
    from onnx import TensorProto, helper

    def constant(name: str, value: float):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name + "_value", TensorProto.FLOAT, [1, 1], [value]))

    nodes = [constant("zero", 0.0), constant("count", float(nbytes // 4)),
             helper.make_node("Mul", ["x", "zero"], ["x0"]),
             helper.make_node("Add", ["x0", "count"], ["n"]),
             helper.make_node("Cast", ["n"], ["n64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["n64", "one"], ["shape"]),
             helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["y"], keepdims=1)]
    return _model(nodes, [helper.make_tensor("one", TensorProto.INT64, [1], [1])], "bomb")


def _model(nodes: list, initializers: list, name: str) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def connect(url: str, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    """A socket to the server from the loopback address `source` (all of 127/8 is loopback on
    Linux: a second address stands for a second machine)."""
    parts = urllib.parse.urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout,
                                    source_address=(source, 0))


def head(path: str, length: int | None = None, token: str = TOKEN, method: str = "POST",
         extra: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def answer(sock: socket.socket) -> tuple[int | None, dict, dict]:
    """(status, JSON body, headers with lower-case names) of the answer on `sock`; status None
    when the server closed it without one."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1"):
            return None, {}, {}
        header_text, _, body = data.partition(b"\r\n\r\n")
        lines = header_text.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (ConnectionResetError, TimeoutError):
        return (None, {}, {}) if not data.startswith(b"HTTP/1.1") else (
            int(data.split()[1]), {}, {})
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        payload = {"not json": body.decode("utf-8", "replace")}
    return int(lines[0].split()[1]), payload, headers


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (any of its threads)."""
    pids = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(p) for p in children.read_text().split()]
        except OSError:
            continue
    return pids


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A /proc/PID/status memory field in MiB (VmRSS now, VmHWM the peak); 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
