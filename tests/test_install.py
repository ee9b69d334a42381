"""A real, non-editable `pip install .` into a fresh virtual environment: the installed
package finds its shipped profiles (robots/ installed as edgeprune.robots), away from the
checkout. The environment borrows this one's dependencies through a .pth file (no downloads,
no CUDA torch) and gets only edgeprune itself from pip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".venv", ".venv-ros", ".git", "runs", "build", "site", "__pycache__", ".pytest_cache",
              ".ruff_cache"}


def test_pyproject_lists_every_package():
    """pyproject lists the packages (robots/ lives outside edgeprune/): none may be missing."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "edgeprune").rglob("__init__.py")}
    assert found | {"edgeprune.robots"} == listed


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("install")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=lambda folder, names: [
        n for n in names if n in SKIP_PARTS or n.endswith(".egg-info")])
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})
                ["purelib"])
    # Dependencies (and pip, setuptools) from this environment; edgeprune only from the wheel.
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", str(source)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _edgeprune(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEPRUNE_ROBOTS", "PYTHONPATH")}
    return subprocess.run([str(venv / "bin" / "edgeprune"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_installed_package_finds_its_shipped_profiles(installed, tmp_path):
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import edgeprune.robots, edgeprune; print(edgeprune.__file__); "
                            "print(edgeprune.robots.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    package, robots = where.stdout.split()
    assert package.startswith(str(installed)) and robots.startswith(str(installed))
    assert (Path(robots).parent / "jetson-orin-nano.yaml").is_file()

    deploy = _edgeprune(installed, tmp_path, "deploy", "--robot", "robomaster-infantry")
    assert deploy.returncode == 0, deploy.stderr
    assert "jetson-orin-nano" in deploy.stdout

    token = tmp_path / "token"
    token.write_text("installed-test-token-0123\n")
    added = _edgeprune(installed, tmp_path, "device", "add", "jetson", "http://127.0.0.1:9",
                       "--token-file", str(token), "--profile", "jetson-nano")
    assert added.returncode == 0, added.stderr
    measured = _edgeprune(installed, tmp_path, "latency", "yolov3-tiny", "--classes", "2",
                          "--width", "0.25", "--imgsz", "64", "--device", "cpu",
                          "--no-latency-cache", "--protocol", "max_seconds=0.2", "--json")
    assert measured.returncode == 0, measured.stderr
    assert '"backend": "ort-cpu"' in measured.stdout
