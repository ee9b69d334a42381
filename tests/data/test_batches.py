"""Samples to tensors: unlabelled calibration batches and the training DataLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.data.augment import NO_AUGMENT, AugmentConfig
from edgeprune.data.batches import TrainingSet, image_batches, make_train_loader
from edgeprune.data.images import read_image
from edgeprune.errors import EdgepruneError
from edgeprune.models import create
from edgeprune.runtime.detector import Detector
from tests.datagen_helpers import write_dataset


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("shapes"), train=10, val=4)


def test_image_batches_are_letterboxed_and_fixed_by_seed(shapes):
    data_yaml, train_set, _ = shapes
    batches = list(image_batches(data_yaml, 64, batch_size=4, num_batches=4, seed=3))
    assert len(batches) == 4
    for batch in batches:
        assert batch.shape == (4, 3, 64, 64) and batch.dtype == torch.float32
        assert float(batch.min()) >= 0 and float(batch.max()) <= 1
    again = list(image_batches(data_yaml, 64, batch_size=4, num_batches=4, seed=3))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    other = next(image_batches(data_yaml, 64, batch_size=4, num_batches=1, seed=4))
    assert not torch.equal(other, batches[0])
    # 16 images from a 10-image split: every image at least once before any repeats
    seen = {round(float(b[i].sum()), 2) for b in batches for i in range(4)}
    assert len(seen) == 10
    # what the Detector feeds its backend for the same image
    picture = read_image(train_set.samples[0].image_path)
    expected, _ = Detector(create("yolov3-tiny", num_classes=3, width=0.125,
                                  imgsz=64)).preprocess(picture)
    from_dataset = next(image_batches(train_set, (64, 64), batch_size=10, num_batches=1))
    assert any(torch.allclose(torch.from_numpy(expected[0]), row, atol=1e-6)
               for row in from_dataset)


def test_image_batches_other_split_and_size(shapes):
    data_yaml, _, _ = shapes
    batch = next(image_batches(data_yaml, "96x64", batch_size=2, num_batches=1, split="val"))
    assert batch.shape == (2, 3, 64, 96)
    with pytest.raises(EdgepruneError, match="multiples of 32"):
        next(image_batches(data_yaml, 50, batch_size=2, num_batches=1))


def test_training_loader_with_workers_gives_the_same_batches(shapes):
    _, train_set, _ = shapes
    dataset = TrainingSet(train_set, (64, 64), AugmentConfig(), seed=1)
    dataset.set_epoch(2)

    def epoch(workers):
        loader = make_train_loader(dataset, batch_size=4, workers=workers, seed=1)
        loader.generator.manual_seed(7)
        return list(loader)

    alone, parallel = epoch(0), epoch(2)
    assert len(alone) == 3
    for (images_a, targets_a, index_a), (images_b, targets_b, index_b) in zip(
            alone, parallel, strict=True):
        assert images_a.dtype == torch.uint8 and images_a.shape[1:] == (3, 64, 64)
        assert index_a == index_b and torch.equal(images_a, images_b)
        assert torch.equal(targets_a, targets_b)
        assert targets_a.shape[1] == 6 and set(targets_a[:, 0].long().tolist()) <= {0, 1, 2, 3}
    plain = TrainingSet(train_set, (64, 64), None)
    image, targets, _ = plain[0]
    boxes = train_set.samples[0].boxes
    # 128x96 -> 64x64: scale 0.5, 8 px bars top and bottom; targets are class, cx, cy, w, h
    np.testing.assert_allclose(targets[:, 2].numpy(), (boxes[:, 1] + boxes[:, 3]) / 4 + 8,
                               atol=1e-4)


def test_augmentation_at_zero_strength_is_the_detector_letterbox(shapes):
    _, train_set, _ = shapes
    # 128x96 images: to 64x64 the scale is exactly 0.5, so the pixels are identical; to 96x64
    # it is 2/3 and cv2.resize rounds the width to 85 px, a third of a pixel off the exact
    # scale the warp uses: the same picture up to resampling at the right edge
    for size, tolerance in (((64, 64), 0.0), ((64, 96), 1.0)):
        warped = TrainingSet(train_set, size, NO_AUGMENT)
        letterboxed = TrainingSet(train_set, size, None)
        for index in range(3):
            image_a, targets_a, _ = warped[index]
            image_b, targets_b, _ = letterboxed[index]
            assert (image_a.float() - image_b.float()).abs().mean() <= tolerance
            torch.testing.assert_close(targets_a, targets_b)
