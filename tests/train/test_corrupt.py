"""Robust fine-tuning: the student trains on corrupted batches, the teacher (the extra loss)
sees the clean ones; the corruption is fixed by (seed, epoch, step)."""

from __future__ import annotations

import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.train import TrainConfig
from edgeprune.train.corrupt import BatchCorruption
from tests.datagen_helpers import write_dataset


def test_a_batch_is_corrupted_in_a_copy_the_same_way_for_a_seed_epoch_and_step():
    images = torch.randint(0, 255, (6, 3, 32, 48), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    original = images.clone()
    corruption = BatchCorruption(("gaussian_noise", "motion_blur"), (3,), share=0.5)
    first = corruption.apply(images, seed=0, epoch=1, step=2)
    assert torch.equal(images, original)  # the clean batch is left for the teacher
    assert torch.equal(first, corruption.apply(images, seed=0, epoch=1, step=2))
    changed = [not torch.equal(a, b) for a, b in zip(first, images, strict=True)]
    assert 0 < sum(changed) < len(changed)  # about half of the batch
    assert not torch.equal(first, corruption.apply(images, seed=0, epoch=1, step=3))
    everything = BatchCorruption(("jpeg",), (5,), share=1.0).apply(images, 0, 0, 0)
    assert all(not torch.equal(a, b) for a, b in zip(everything, images, strict=True))
    with pytest.raises(EdgepruneError, match="unknown corruption 'fog'"):
        BatchCorruption(("fog",))


@pytest.mark.parametrize("corrupt", [False, True])
def test_the_student_sees_corrupted_images_and_the_teacher_clean_ones(tmp_path, corrupt):
    data_yaml, train_set, _ = write_dataset(tmp_path / "data", train=8, val=4)
    config = TrainConfig(data=str(data_yaml), model="yolov3-tiny", width=0.125, imgsz=64,
                         epochs=1, batch=4, workers=0,
                         corruptions=("gaussian_noise",) if corrupt else (),
                         corruption_severities=(5,), corruption_share=1.0)
    same_as_student = []

    def check(images, outputs, targets):
        network = check.trainer_model
        with torch.no_grad():  # the student's network on the images the extra loss got
            again = network(images)
        same_as_student.append(all(torch.allclose(a, b.detach(), atol=1e-5)
                                   for a, b in zip(again, outputs, strict=True)))
        return outputs[0].sum() * 0

    from edgeprune.train.trainer import Trainer

    trainer = Trainer(config, tmp_path / "run", train_data=train_set, validate=False,
                      extra_loss=check, show_progress=False)
    check.trainer_model = trainer.network
    trainer.run()
    assert same_as_student and all(same == (not corrupt) for same in same_as_student)
