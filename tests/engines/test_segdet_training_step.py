"""The seed 000 pieces fit MONAI's trainer: transforms -> batch with flags -> SegDetNet -> SegDetLoss."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedTrainer
from ignite.engine import Events
from monai.transforms import AsDiscreted, Compose, DeleteItemsd, RandSpatialCropd

from cellbundles.engines import PrepareBatchTargetDict
from cellbundles.losses import SegDetLoss
from cellbundles.networks import SegDetNet
from cellbundles.transforms import (
    AnnotationAvailabilityd,
    BorderWeightMapd,
    CentroidsFromLabelsd,
    CentroidsToDensityd,
)


def sample(with_mask: bool, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labels = np.zeros((1, 20, 24, 24), dtype=np.int32)
    centres = rng.integers(5, 18, size=(3, 3))
    grid = np.indices(labels.shape[1:])
    for index, centre in enumerate(centres, start=1):
        labels[0][sum((g - c) ** 2 for g, c in zip(grid, centre)) <= 9] = index
    affine = torch.diag(torch.tensor([1.0, 0.5, 0.5, 1.0]))
    pixels = (labels > 0) + 0.1 * rng.random(labels.shape)
    image = MetaTensor(torch.from_numpy(pixels.astype(np.float32)), affine=affine)
    item = {"image": image}
    if with_mask:
        item["label"] = MetaTensor(torch.from_numpy(labels), affine=affine)
    else:
        item["centroids"] = centres.astype(float)
    return item


def test_one_epoch_on_mixed_annotations_updates_the_network():
    transforms = Compose(
        [
            CentroidsFromLabelsd(keys="label", allow_missing_keys=True),
            CentroidsToDensityd(keys="centroids", ref_key="image", density_keys="density"),
            BorderWeightMapd(keys="label", weight_keys="weight", allow_missing_keys=True),
            AsDiscreted(keys="label", threshold=0.5, allow_missing_keys=True),
            DeleteItemsd(keys="centroids"),
            AnnotationAvailabilityd({"has_mask": ("label", "weight"), "has_centroids": "density"}),
            RandSpatialCropd(keys=["image", "label", "weight", "density"], roi_size=(16, 16, 16), random_size=False),
        ]
    )
    data = [sample(with_mask=i % 2 == 0, seed=i) for i in range(4)]
    loader = DataLoader(Dataset(data, transforms), batch_size=2, num_workers=0)
    torch.manual_seed(0)
    net = SegDetNet(features=(4, 8, 8, 16))
    before = [p.detach().clone() for p in net.parameters()]
    losses = []
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=loader,
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), lr=1e-3),
        loss_function=SegDetLoss(),
        prepare_batch=PrepareBatchTargetDict(),
        decollate=False,
    )
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda engine: losses.append(engine.state.output["loss"].item())
    )
    trainer.run()
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_prepare_batch_moves_present_targets_only():
    batch = {"image": torch.zeros(2, 1, 4, 4), "label": torch.ones(2, 1, 4, 4), "has_mask": torch.ones(2, 1)}
    image, targets = PrepareBatchTargetDict()(batch, device="cpu")
    assert image.shape == (2, 1, 4, 4)
    assert set(targets) == {"label", "has_mask"}
