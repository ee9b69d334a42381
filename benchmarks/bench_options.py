"""What the long benchmarks' command lines share: the regime's sizes (issue 26's defaults), the
--jobs and --quick options, and a timestamped progress line."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from search_steps import usable_cpus


def add_regime_options(parser: argparse.ArgumentParser, images: int = 600, imgsz: int = 160,
                       width: float = 0.5, max_epochs: int = 50, plateau: int = 5,
                       supernet_epochs: float = 2.0) -> None:
    """The base's sizes: data, input, width, the plateau rule, the weight-sharing network."""
    parser.add_argument("--images", type=int, default=images,
                        help="generated sim images (80%% train, 20%% val)")
    parser.add_argument("--imgsz", type=int, default=imgsz, help="network input size")
    parser.add_argument("--width", type=float, default=width, help="base yolov3 width")
    parser.add_argument("--max-epochs", type=int, default=max_epochs,
                        help="the most the base trains (it stops earlier when converged)")
    parser.add_argument("--plateau", type=int, default=plateau,
                        help="the base's plateau window (train --plateau)")
    parser.add_argument("--supernet-epochs", type=float, default=supernet_epochs,
                        help="epochs of the weight-sharing network")


def finish(parser: argparse.ArgumentParser, quick: dict) -> argparse.Namespace:
    """Add --jobs and --quick, parse, apply `quick`'s toy sizes, resolve --work and --out."""
    parser.add_argument("--jobs", type=int, default=len(usable_cpus()),
                        help="pieces at a time, each pinned to its own CPU")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes to check the script end to end; numbers mean nothing")
    args = parser.parse_args()
    if args.quick:
        for key, value in quick.items():
            setattr(args, key, value)
    args.work, args.out = args.work.resolve(), args.out.resolve()
    return args


def say(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)
