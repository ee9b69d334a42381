"""Request bodies on the device server: read as they stream in, under a size limit, a pause
limit and a minimum rate, with the first bytes checked against the ONNX form before the rest is
read; an upload is spooled to disk, never held in memory.

The rate is what bounds an upload in time: after a grace of `body_timeout_s` an upload must
have averaged `min_upload_rate` bytes a second, so a client sending a byte every few seconds
(each pause under the pause limit) is answered 408 at the grace's end instead of holding a
waiting slot for ever.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from starlette.requests import Request

from edgeprune.latency.server_limits import RequestRefused, ServerLimits

DRAIN_LIMIT = 8 << 20  # a refused body up to this size is read and dropped, so the client
# sees the answer; a larger one is cut off with the connection
# Protobuf writes fields in number order: an ONNX ModelProto starts with ir_version (field 1, a
# varint: the tag 0x08, then the version, one byte for every IR version there is), followed by
# the tag of another ModelProto field (numbers 2-8 and 14 are one byte, 20, 25, 26 start with
# these). Junk is refused from its first three bytes.
ONNX_FIRST_BYTE = 0x08
ONNX_THIRD_BYTES = frozenset({0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca, 0xd2})
NOT_ONNX = ("cannot load the model: the upload is not an ONNX file (a ModelProto starts with "
            "its ir_version)")


class ClientGone(Exception):
    """The client closed its connection."""


def check_onnx_prefix(prefix: bytes) -> None:
    """Refuse a body whose first three bytes cannot start an ONNX ModelProto."""
    if prefix[0] != ONNX_FIRST_BYTE or (len(prefix) > 1 and not 0 < prefix[1] < 0x80) or \
            (len(prefix) > 2 and prefix[2] not in ONNX_THIRD_BYTES):
        raise RequestRefused(400, NOT_ONNX)


class Body:
    """A request's body as it streams in: a pause longer than body_timeout_s, or a rate under
    min_upload_rate once that grace is over (counted from the request's headers), is a 408;
    ClientGone when the client hangs up. Reading can stop and go on (a refusal drains)."""

    def __init__(self, request: Request, limits: ServerLimits) -> None:
        self.request = request
        self.limits = limits
        self.started = anyio.current_time()
        self.received = 0
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        limits = self.limits
        while not self.done:
            rate_deadline = self.started + limits.body_timeout_s + \
                self.received / limits.min_upload_rate
            wait = min(limits.body_timeout_s, rate_deadline - anyio.current_time())
            message = None
            with anyio.move_on_after(max(wait, 0)):
                message = await self.request.receive()
            if message is None:
                raise self._too_slow(rate_deadline)
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            self.received += len(chunk)
            self.done = not message.get("more_body", False)
            yield chunk

    def _too_slow(self, rate_deadline: float) -> RequestRefused:
        limits = self.limits
        if anyio.current_time() >= rate_deadline:
            elapsed = anyio.current_time() - self.started
            return RequestRefused(
                408, f"the upload sent {self.received} bytes in {elapsed:.1f} s, under this "
                     f"server's minimum of {limits.min_upload_rate / 1024:g} KiB/s after "
                     f"{limits.body_timeout_s:g} s (device serve --min-upload-rate)",
                limit="--min-upload-rate")
        return RequestRefused(408, f"the upload stalled for more than "
                                   f"{limits.body_timeout_s:g} s (device serve --body-timeout)",
                              limit="--body-timeout")


async def receive_upload(body: Body, directory: Path, length: int | None) -> Path:
    """Stream the body into a new file in `directory`, counting it against the upload limit
    and checking its first bytes before reading on."""
    limit = body.limits.max_upload_bytes
    handle, name = tempfile.mkstemp(suffix=".onnx", dir=directory)
    path = Path(name)
    received = 0
    prefix = b""
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in body.chunks():
                if len(prefix) < 3 and chunk:
                    prefix += chunk[:3 - len(prefix)]
                    check_onnx_prefix(prefix)
                received += len(chunk)
                if received > limit:
                    raise RequestRefused(413, f"upload exceeds the server's limit of {limit} "
                                              f"bytes (device serve --max-upload-mb)",
                                         limit="--max-upload-mb")
                out.write(chunk)
        if received == 0:
            raise RequestRefused(400, "empty body: send the ONNX model bytes as the body")
        if length is not None and received != length:
            raise RequestRefused(400, f"the upload ended after {received} of {length} bytes")
        if len(prefix) < 3:
            raise RequestRefused(400, NOT_ONNX)
        return path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def drain(body: Body) -> bool:
    """Read and drop the rest of a refused request's body if it is small, so its client gets
    to read the answer; False when the connection must be closed instead (a large or
    unfinished body)."""
    length = body.request.headers.get("content-length", "")
    if body.request.method != "POST" or not length.isdigit() or int(length) > DRAIN_LIMIT:
        return body.done
    try:
        async for _ in body.chunks():
            if body.received > DRAIN_LIMIT:
                return False
    except (ClientGone, RequestRefused):
        return False
    return True
