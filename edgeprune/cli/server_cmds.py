"""`edgeprune device serve` (run the device server on the robot) and `edgeprune device info`
(ask one); `edgeprune agent serve|info`, their names of the last release, are deprecated."""

from __future__ import annotations

import contextlib
import json

import click

from edgeprune.cli.deprecation import deprecated_alias, deprecated_group
from edgeprune.cli.device_cmds import device
from edgeprune.cli.tables import info_table
from edgeprune.cli.terminal import stderr, stdout
from edgeprune.console import escape
from edgeprune.errors import EdgepruneError
from edgeprune.latency.tokens import TOKEN_ENV


@device.command()
@click.option("--backend", type=click.Choice(["ort-cpu", "ort-cuda", "tensorrt"]),
              default="ort-cpu", show_default=True, help="Backend measuring here.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the server to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8650, show_default=True,
              help="Port (0: any free port; the address is printed).")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File holding the token clients must send (Authorization: Bearer TOKEN).")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
              help="The token itself (at least 16 printable characters without spaces; a "
              "weaker one, empty included, is refused). On the command line it shows in `ps`: "
              "prefer --token-file or the environment. With neither, a token is made on first "
              "start, stored in the config folder and printed.")
@click.option("--ort-threads", type=click.IntRange(min=0),
              help="ONNX Runtime intra-op threads of ort-cpu (0: one per CPU).")
@deprecated_alias("--threads", "--ort-threads", type=click.IntRange(min=0))
@click.option("--workspace-mb", type=click.IntRange(min=1), help="tensorrt workspace.")
@click.option("--timing-cache", type=click.Path(dir_okay=False),
              help="tensorrt timing cache file (reused across builds).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=512,
              show_default=True, help="Largest model accepted (413 above).")
@click.option("--min-upload-rate", type=click.FloatRange(min=0, min_open=True), default=256,
              show_default=True, help="KiB/s an upload must average once --body-timeout has "
              "passed (408 below): a crawling upload cannot hold a waiting slot.")
@click.option("--busy-wait", type=click.FloatRange(min=0, min_open=True), default=60,
              show_default=True,
              help="Seconds a request waits for the device before a 503 busy answer.")
@click.option("--max-waiting", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests uploading or queued at once, half of them (at least one) per "
              "client address (429 above); temp disk use is at most this times "
              "--max-upload-mb.")
@click.option("--max-connections", type=click.IntRange(min=1), default=32, show_default=True,
              help="Open connections; at the cap an idle one (no request in progress) is "
              "closed to make room, else the newcomer is answered 503.")
@click.option("--max-connections-per-address", type=click.IntRange(min=1), default=8,
              show_default=True, help="Open connections from one client address (429 above, "
              "after closing its idle ones).")
@click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True), default=5,
              show_default=True, help="Seconds a connection may take to send its request "
              "headers (it is closed after).")
@click.option("--body-timeout", type=click.FloatRange(min=0, min_open=True), default=10,
              show_default=True, help="Longest pause in an upload (408 after).")
@click.option("--max-measure-seconds", type=click.FloatRange(min=0, min_open=True),
              default=300, show_default=True,
              help="Deadline of one measurement: loading, engine build, warm-up and timing "
              "(its process is stopped, 400). A request's protocol must fit in it.")
@click.option("--max-memory-mb", type=click.FloatRange(min=0, min_open=True), default=2048,
              show_default=True, help="Memory one measurement may take beyond the runtime's "
              "own (RLIMIT_DATA of its process; GPU memory where the backend can cap it).")
@click.option("--max-input-elements", type=click.IntRange(min=1), default=1 << 24,
              show_default=True, help="Largest input (batch x channels x height x width).")
@click.option("--units-cache", type=click.Path(dir_okay=False),
              help="SQLite file keeping every layer unit POST /units times, so a base's table "
              "is measured once per device. Default: server-units.sqlite beside the latency "
              "cache.")
@click.option("--units-slice", type=click.FloatRange(min=0, min_open=True), default=60,
              show_default=True, help="Seconds a POST /units request times units before it "
              "answers with what it has (the client asks again; the server resumes from its "
              "cache).")
@click.pass_context
def serve(ctx, backend, host, port, token_file, token, ort_threads, workspace_mb, timing_cache,
          max_upload_mb, min_upload_rate, busy_wait, max_waiting, max_connections,
          max_connections_per_address, header_timeout, body_timeout, max_measure_seconds,
          max_memory_mb, max_input_elements, units_cache, units_slice) -> None:
    """Run the device server here: GET /info, POST /measure and POST /units, a base's
    layer units timed and cached here (docs/latency.md has the API).

    Each model is loaded, checked and timed in a child process under the deadline and the
    memory cap; a client that leaves, a deadline passed or a stop (Ctrl-C, SIGTERM) ends it
    within a second.

    \b
    edgeprune device serve --backend tensorrt --host 0.0.0.0 --token-file ~/server.token
    edgeprune device add jetson http://JETSON:8650 --token-file T --profile jetson-orin-nano
    edgeprune search --data robomaster.yaml --weights base.pt --device jetson   # anywhere
    """
    import logging
    import signal
    import sys

    from edgeprune.latency.protocol import Protocol
    from edgeprune.latency.result import DeviceIdentity
    from edgeprune.latency.server import DeviceServer
    from edgeprune.latency.server_http import is_loopback
    from edgeprune.latency.server_limits import ServerLimits, how_to_fit

    token = _server_token(ctx, token_file, token)
    limits = ServerLimits(max_upload_bytes=int(max_upload_mb * 2**20), max_waiting=max_waiting,
                          max_connections=max_connections,
                          max_connections_per_address=max_connections_per_address,
                          header_timeout_s=header_timeout, body_timeout_s=body_timeout,
                          min_upload_rate=min_upload_rate * 1024, busy_wait_s=busy_wait,
                          max_measure_seconds=max_measure_seconds,
                          max_memory_bytes=int(max_memory_mb * 2**20),
                          max_input_elements=max_input_elements, units_slice_s=units_slice)
    options = {}
    if backend == "ort-cpu" and ort_threads is not None:
        options["threads"] = ort_threads
    if backend == "tensorrt":
        options.update({k: v for k, v in (("workspace_mb", workspace_mb),
                                          ("timing_cache", timing_cache)) if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        server = DeviceServer(backend, token, host, port, backend_options=options,
                              limits=limits, units_cache=units_cache)
    except OSError as exc:
        raise EdgepruneError(f"cannot listen on {host}:{port}: "
                             f"{exc.strerror or exc}") from None
    if not is_loopback(host):
        stderr.print(f"[yellow]warning:[/] listening on {escape(host)}: anyone who can reach "
                     f"this machine and has the token can run models on it")
    longest = Protocol().longest_timing_s(interleaved=True)
    if longest > max_measure_seconds:
        stderr.print(f"[yellow]warning:[/] --max-measure-seconds {max_measure_seconds:g} is "
                     f"under the {longest:g} s the default protocol may take (interleaved): "
                     f"requests without protocol fields are timed by max_seconds="
                     f"{server.protocol.max_seconds:g}; clients that send the default must "
                     f"{how_to_fit(Protocol(), max_measure_seconds)}", highlight=False)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    identity = DeviceIdentity.from_json(server.device.info["device"])
    click.echo(f"edgeprune device server: {backend} on {identity.describe()}, "
               f"listening on {server.address}")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()
    stderr.print("server stopped")


def _server_token(ctx: click.Context, token_file: str | None, token: str | None) -> str:
    """The token from --token-file, --token (warned; an empty one is refused, not replaced) or
    the environment (empty counts as unset), else the generated one in the config folder."""
    from click.core import ParameterSource

    from edgeprune.latency.tokens import (
        OLD_TOKEN_ENV,
        check_token,
        env_token,
        generated_token,
        read_token_file,
    )

    if token_file:
        return check_token(read_token_file(token_file), token_file)
    if token is not None and ctx.get_parameter_source("token") is ParameterSource.COMMANDLINE:
        # given, even empty (`--token ''`): refused if weak, never replaced by another one
        stderr.print("[yellow]warning:[/] a token on the command line shows in `ps` to "
                     f"every user here; prefer --token-file or {TOKEN_ENV}")
        return check_token(token, "--token")
    if token:  # click reads an empty variable as unset
        return check_token(token, TOKEN_ENV)
    token = env_token()  # the environment variable of the last release, warned
    if token:
        return check_token(token, OLD_TOKEN_ENV)
    from edgeprune.latency.tokens import generated_token_path

    path = generated_token_path()
    token, made = generated_token(path)
    if made:
        stderr.print(f"made a token for this server in {escape(path)} (readable by you only):"
                     f"\n  {escape(token)}\ngive it to clients with `edgeprune device add NAME "
                     f"URL --token-file FILE` (a copy of that file)", highlight=False)
    else:
        stderr.print(f"using the token in {escape(path)}", highlight=False)
    return token


def _stop_like_ctrl_c(signum, frame) -> None:
    """SIGTERM (systemd, docker stop, a test ending us) stops the server as Ctrl-C does."""
    raise KeyboardInterrupt


@device.command()
@click.argument("url")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True)
@click.option("--token-file", type=click.Path(dir_okay=False), help="File holding the token.")
@click.option("--json", "as_json", is_flag=True)
def info(url, token, token_file, as_json) -> None:
    """What the server at URL measures with: backend, versions, device identity, limits."""
    from edgeprune.latency.client import ServerClient

    client = ServerClient(url, token, token_file=token_file, timeout_s=10, retries=1)
    answer = client.info()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    stdout.print(info_table(client.url, answer))


# the group's name of the last release: `edgeprune agent serve|info` (agent is the search's word)
agent = deprecated_group("agent", device, (serve, info))
