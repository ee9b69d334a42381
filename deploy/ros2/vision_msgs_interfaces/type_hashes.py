"""Print the ROS 2 type description hash (RIHS01_...) of .msg files, as rosidl computes it.

Runs the same rosidl adapter (.msg -> .idl) and type-description generator that the package
build runs, without building anything, so the hashes of any set of .msg files (this package's
or upstream vision_msgs's) can be compared:

    .venv-ros/bin/python deploy/ros2/vision_msgs_interfaces/type_hashes.py \
        deploy/ros2/vision_msgs_interfaces/msg/*.msg

Referenced types of other packages (std_msgs/Header, geometry_msgs/PoseWithCovariance) are
read from the interface packages installed under --prefix (default: this Python's prefix).
Prints one JSON object: {"vision_msgs/msg/Point2D": "RIHS01_...", ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path


def type_hashes(msg_files: list[Path], package: str, prefix: Path) -> dict[str, str]:
    from rosidl_adapter.msg import convert_msg_to_idl
    from rosidl_generator_type_description import generate_type_hash

    with tempfile.TemporaryDirectory() as scratch:
        idl_dir, output_dir = Path(scratch, "idl"), Path(scratch, "out")
        (idl_dir / "msg").mkdir(parents=True)
        with redirect_stdout(StringIO()):  # the adapter reports every file it writes
            for msg_file in msg_files:
                convert_msg_to_idl(msg_file.parent.resolve(), package, Path(msg_file.name),
                                   idl_dir / "msg")
        includes = [f"{share.parent.name}:{share.parent}"
                    for share in sorted((prefix / "share").glob("*/msg"))
                    if share.parent.name != package]
        arguments = Path(scratch, "arguments.json")
        arguments.write_text(json.dumps({
            "package_name": package,
            "output_dir": str(output_dir),
            "idl_tuples": [f"{idl_dir}:msg/{f.with_suffix('.idl').name}" for f in msg_files],
            "include_paths": includes,
        }))
        generate_type_hash(str(arguments))
        hashes = {}
        for msg_file in msg_files:
            described = json.loads((output_dir / "msg" / f"{msg_file.stem}.json").read_text())
            name = f"{package}/msg/{msg_file.stem}"
            hashes[name] = next(entry["hash_string"] for entry in described["type_hashes"]
                                if entry["type_name"] == name)
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("msg_files", nargs="+", type=Path, help=".msg files of one package")
    parser.add_argument("--package", default="vision_msgs", help="their package name")
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix),
                        help="where the referenced interface packages are installed")
    args = parser.parse_args()
    missing = [str(f) for f in args.msg_files if not f.is_file()]
    if missing:
        parser.error(f"no such .msg file: {', '.join(missing)}")
    print(json.dumps(type_hashes(args.msg_files, args.package, args.prefix), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
