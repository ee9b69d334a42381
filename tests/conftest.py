"""Fixtures shared by the whole suite: the real sample data and tiny models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("EDGEPRUNE_SHARED_DATASETS",
                                      REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The read-only real sample data (../shared/datasets); copy before writing."""
    if not (SHARED_DATASETS / "ucsd-sample").is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATASETS} "
                    f"(set EDGEPRUNE_SHARED_DATASETS)")
    return SHARED_DATASETS


@pytest.fixture
def ucsd_sample(shared_datasets: Path, tmp_path: Path) -> Path:
    """A writable copy of the UCSD sample (6 real images, lists rooted at /data/UCSD-dataset)."""
    target = tmp_path / "ucsd-sample"
    shutil.copytree(shared_datasets / "ucsd-sample", target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture
def tiny_yolov3():
    """yolov3 at width 0.125, 3 classes, 64x64 input: every layer type, milliseconds to run."""
    from edgeprune.models import create

    return create("yolov3", num_classes=3, width=0.125, imgsz=64)


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own config folder (device registry, generated server token), never
    the user's."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("EDGEPRUNE_CONFIG_DIR", str(folder))
    return folder
