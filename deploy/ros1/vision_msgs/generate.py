"""Generate the Python package `vision_msgs` for ROS 1 (rospy) from the .msg files beside this
script, with genpy, for ROS 1 set-ups that have no vision_msgs (Debian's ros-core):

    python3 deploy/ros1/vision_msgs/generate.py OUTPUT_DIR      # then PYTHONPATH=OUTPUT_DIR

Writes OUTPUT_DIR/vision_msgs/. Referenced messages (std_msgs/Header, geometry_msgs/Pose2D,
sensor_msgs/Image ...) are read from the ROS 1 message definitions under --share (Debian:
ros-std-msgs, ros-geometry-msgs, ros-sensor-msgs put them in /usr/share/PACKAGE/msg). Run it
with the python3 that has genpy (Debian: python3-genpy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MSG_DIR = Path(__file__).resolve().with_name("msg")
PACKAGE = "vision_msgs"


def generate(output_dir: Path, share: Path = Path("/usr/share"), msg_dir: Path = MSG_DIR) -> Path:
    """Write OUTPUT_DIR/vision_msgs (a Python package) and return its path."""
    from genpy.generator import MsgGenerator
    from genpy.genpy_main import write_modules

    search_path = {share_dir.parent.name: [str(share_dir)]
                   for share_dir in sorted(share.glob("*/msg"))}
    search_path[PACKAGE] = [str(msg_dir)]
    package_dir = output_dir / PACKAGE
    (package_dir / "msg").mkdir(parents=True, exist_ok=True)
    msg_files = sorted(str(path) for path in msg_dir.glob("*.msg"))
    if MsgGenerator().generate_messages(PACKAGE, msg_files, str(package_dir / "msg"),
                                        search_path):
        raise RuntimeError(f"genpy could not generate {PACKAGE} from {msg_dir} (see above)")
    write_modules(str(package_dir / "msg"))
    (package_dir / "__init__.py").touch()
    return package_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="where the vision_msgs package goes")
    parser.add_argument("--share", type=Path, default=Path("/usr/share"),
                        help="the folder holding PACKAGE/msg/*.msg of the referenced packages")
    args = parser.parse_args()
    try:
        print(generate(args.output_dir, args.share))
    except ImportError:
        print("generate.py: genpy is missing (Debian: apt-get install python3-genpy)",
              file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
