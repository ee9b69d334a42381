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


# Each search times its candidates to +-3% (the goals' latency tolerance) in at most 2 x 3 s
# of interleaved pairs, not the library's +-2% in up to 2 x 20 s: that took 91% of a search
# here in issue 13's run. The search needs the ratio to tell feasible from not; the latency
# columns of a result come from the side-by-side timing of every final model at the end.
SEARCH_PROTOCOL = ("target_rel_ci=0.03", "max_seconds=3")
QUICK_PROTOCOL = ("max_remeasures=0", "max_seconds=1")  # toy runs: numbers mean nothing


def protocol_options(args, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`--protocol` options of every search: the benchmarks' protocol, the toy one with
    --quick, then `extra`."""
    items = [*SEARCH_PROTOCOL, *(QUICK_PROTOCOL if args.quick else ()), *extra]
    return [option for item in items for option in ("--protocol", item)]


def say(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)
