"""The command group, error handling shared by every verb, and verb registration.

Verb modules import only click at module level; torch and friends load inside the commands so
`edgeprune --help` stays fast.
"""

from __future__ import annotations

import sys

import click

from edgeprune import __version__
from edgeprune.cli.terminal import stderr
from edgeprune.console import escape
from edgeprune.errors import EdgepruneError


class EdgepruneGroup(click.Group):
    """Turns user errors into one red line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgepruneError as exc:
            stderr.print(f"[bold red]error:[/] {escape(exc)}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/]")
            sys.exit(130)


@click.group(cls=EdgepruneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprune")
def main() -> None:
    """edgeprune: fit YOLOv3-family detectors to a robot's measured latency budget.

    \b
    Typical day:
      edgeprune data check robomaster.yaml
      edgeprune train    --data robomaster.yaml --model yolov3
      edgeprune supernet train --data robomaster.yaml --weights base.pt
      edgeprune search   --data robomaster.yaml --weights base.pt --device jetson \\
                         --target-speedup 2 --supernet runs/supernet/exp/supernet.pt
      edgeprune finetune --weights runs/search/exp/best.pt --teacher base.pt
      edgeprune export   --weights final.pt --format engine --precision fp16  # on the robot
      edgeprune deploy   --robot robomaster-infantry
    Run `edgeprune demo` for the whole chain on built-in data; `edgeprune VERB --help`
    explains each verb.
    """


def _register() -> None:
    from edgeprune.cli import (
        calib_cmds,
        data_cmds,
        demo_cmd,
        deploy_cmd,
        device_cmds,
        eval_cmds,
        finetune_cmd,
        latency_cmds,
        model_cmds,
        prune_cmd,
        regime_cmd,
        scratch_cmd,
        search_cmd,
        server_cmds,
        sim2real_cmd,
        supernet_cmds,
        train_cmd,
    )

    for command in (model_cmds.info, model_cmds.export, data_cmds.data, train_cmd.train,
                    eval_cmds.val, eval_cmds.predict, prune_cmd.prune, latency_cmds.latency,
                    device_cmds.device, server_cmds.agent, supernet_cmds.supernet,
                    search_cmd.search, finetune_cmd.finetune, scratch_cmd.scratch,
                    regime_cmd.regime, sim2real_cmd.eval_group, calib_cmds.calib, deploy_cmd.deploy,
                    demo_cmd.demo):
        main.add_command(command)


_register()
