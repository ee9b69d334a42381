"""The device server's pure parts: protocol bounds and fitting, query parsing, the ONNX
first-bytes check, the connection book (no server process needed)."""

import pytest

from edgeprune.latency.protocol import Protocol
from edgeprune.latency.server_http import ConnectionBook
from edgeprune.latency.server_limits import (
    RequestRefused,
    ServerLimits,
    fitted_protocol,
    parse_protocol,
    parse_query,
)
from edgeprune.latency.server_upload import check_onnx_prefix


def test_the_default_protocol_fits_the_default_deadline_even_interleaved():
    limits = ServerLimits()
    assert parse_protocol({}, Protocol(), limits, interleaved=True) == Protocol()


def test_a_protocol_over_the_deadline_is_told_how_to_fit():
    limits = ServerLimits(max_measure_seconds=10)
    with pytest.raises(RequestRefused, match=r"may time for 61\.5 s.*max_seconds <= 1\.41") as \
            refused:
        parse_protocol({}, Protocol(), limits)
    assert refused.value.status == 400 and refused.value.limit == "--max-measure-seconds"
    fitted = parse_protocol({"max_seconds": "1.41"}, Protocol(), limits, interleaved=True)
    assert fitted.longest_timing_s(interleaved=True) <= 10


def test_the_servers_own_protocol_is_fitted_to_its_deadline():
    assert fitted_protocol(Protocol(), 300) == Protocol()
    fitted = fitted_protocol(Protocol(), 10)
    assert fitted.max_seconds == 1.41 and fitted.longest_timing_s(interleaved=True) <= 10
    hopeless = Protocol(warmup_seconds=5)
    assert fitted_protocol(hopeless, 1) == hopeless  # nothing fits: requests get the advice


@pytest.mark.parametrize("name", ["max_memory_bytes", "max_measure_seconds",
                                  "min_upload_rate", "header_timeout_s"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -1])
def test_server_limits_are_positive_and_finite(name, value):
    from edgeprune.errors import EdgepruneError

    with pytest.raises(EdgepruneError, match=f"{name} must be a positive finite number"):
        ServerLimits(**{name: value})


def test_half_the_waiting_slots_per_address():
    assert ServerLimits(max_waiting=4).max_waiting_per_address == 2
    assert ServerLimits(max_waiting=3).max_waiting_per_address == 2
    assert ServerLimits(max_waiting=1).max_waiting_per_address == 1


def test_a_query_field_given_twice_is_refused():
    assert parse_query([("shape", "1x3x8x8"), ("max_runs", "5")]) == {"shape": "1x3x8x8",
                                                                     "max_runs": "5"}
    with pytest.raises(RequestRefused, match="more than once"):
        parse_query([("max_seconds", "1"), ("max_seconds", "nan")])


def test_onnx_files_pass_the_first_bytes_check_and_junk_does_not(tiny_onnx):
    check_onnx_prefix(tiny_onnx[:3])
    for junk in (b"X", b"\x00\x01", b"\x08\x00", b"\x08\x80", b"\x08\x08\x00", b"<ht",
                 b"\x08\x08\x08"):
        with pytest.raises(RequestRefused, match="not an ONNX file"):
            check_onnx_prefix(junk)


class FakeConnection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True


def test_idle_connections_make_room_and_busy_ones_do_not():
    book = ConnectionBook(total=3, per_address=2)
    a1, a2, b1, c1, d1 = (FakeConnection(n) for n in ("a1", "a2", "b1", "c1", "d1"))
    assert book.admit(a1, "A") is None and book.admit(a2, "A") is None
    a3 = FakeConnection("a3")
    assert book.admit(a3, "A") is None and a1.evicted  # A's own oldest idle one made room
    book.busy(a2)
    book.busy(a3)
    assert book.admit(b1, "B") is None
    assert book.admit(c1, "C") is None and b1.evicted  # the oldest idle overall
    book.busy(c1)
    refused = book.admit(d1, "D")  # three busy connections: no room
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert refused.limit == "--max-connections"
    book.forget(d1)
    a4 = FakeConnection("a4")
    refused = book.admit(a4, "A")  # A's two connections are busy
    assert refused.status == 429 and refused.limit == "--max-connections-per-address"
    book.forget(a4)
    book.waiting(a2)  # its response is out: idle again, between kept-alive requests
    a5 = FakeConnection("a5")
    assert book.admit(a5, "A") is None and a2.evicted
    assert book.by_address == {"A": 2, "C": 1}
