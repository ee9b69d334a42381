"""`edgeprune agent serve` (run the device agent) and `edgeprune agent info` (ask one)."""

from __future__ import annotations

import json

import click

from edgeprune.cli.app import stderr, stdout
from edgeprune.errors import EdgepruneError


@click.group()
def agent() -> None:
    """The device agent: measures latency on a robot's computer for searches elsewhere."""


@agent.command()
@click.option("--backend", type=click.Choice(["ort-cpu", "ort-cuda", "tensorrt"]),
              default="ort-cpu", show_default=True, help="Backend measuring here.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the agent to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8650, show_default=True,
              help="Port (0: any free port; the address is printed).")
@click.option("--token", envvar="EDGEPRUNE_AGENT_TOKEN", show_envvar=True,
              help="Token clients must send (Authorization: Bearer TOKEN). Required.")
@click.option("--threads", type=click.IntRange(min=0), help="ort-cpu intra-op threads.")
@click.option("--workspace-mb", type=click.IntRange(min=1), help="tensorrt workspace.")
@click.option("--timing-cache", type=click.Path(dir_okay=False),
              help="tensorrt timing cache file (reused across builds).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=512,
              show_default=True, help="Largest model accepted (413 above).")
@click.option("--busy-wait", type=click.FloatRange(min=0), default=60, show_default=True,
              help="Seconds a request waits for the device before a 503 busy answer.")
def serve(backend, host, port, token, threads, workspace_mb, timing_cache, max_upload_mb,
          busy_wait) -> None:
    """Serve GET /info and POST /measure (see README 'Latency' for the API).

    \b
    edgeprune agent serve --backend tensorrt --host 0.0.0.0 --token $T   # on the Jetson
    edgeprune latency model.onnx --device http://JETSON:8650 --token $T  # anywhere
    """
    import logging
    import signal
    import sys

    from edgeprune.latency.agent import DeviceAgent, is_loopback
    from edgeprune.latency.backends import create_backend

    if not token:
        raise EdgepruneError("the agent needs a token: pass --token or set "
                             "EDGEPRUNE_AGENT_TOKEN (it runs any model sent to it)")
    options = {}
    if backend == "ort-cpu" and threads is not None:
        options["threads"] = threads
    if backend == "tensorrt":
        options.update({k: v for k, v in (("workspace_mb", workspace_mb),
                                          ("timing_cache", timing_cache)) if v is not None})
    measurer = create_backend(backend, **options)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        server = DeviceAgent(measurer, token, host, port,
                             max_upload_bytes=int(max_upload_mb * 2**20),
                             busy_wait_s=busy_wait)
    except OSError as exc:
        raise EdgepruneError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if not is_loopback(host):
        stderr.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this "
                     f"machine and has the token can run models on it")
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    click.echo(f"edgeprune agent: {measurer.name} on {measurer.identity().describe()}, "
               f"listening on {server.address}")
    sys.stdout.flush()
    try:
        server.serve()
    except KeyboardInterrupt:
        stderr.print("agent stopped")


def _stop_like_ctrl_c(signum, frame) -> None:
    """SIGTERM (systemd, docker stop, a test ending us) stops the agent as Ctrl-C does."""
    raise KeyboardInterrupt


@agent.command()
@click.argument("url")
@click.option("--token", envvar="EDGEPRUNE_AGENT_TOKEN", show_envvar=True)
@click.option("--json", "as_json", is_flag=True)
def info(url, token, as_json) -> None:
    """What the agent at URL measures with: backend, versions, device identity, limits."""
    from rich.table import Table

    from edgeprune.latency.client import AgentClient

    client = AgentClient(url, token, timeout_s=10, retries=1)
    answer = client.info()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    table = Table(title=client.url, show_header=False, title_justify="left")
    for key in ("backend", "version", "precisions", "device", "max_upload_bytes", "busy",
                "edgeprune"):
        value = answer.get(key)
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, str(value))
    stdout.print(table)
