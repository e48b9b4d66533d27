"""Transforms of the ``nuclei_recyclegan_3d`` bundle (seed 001): phantoms drawn on the fly for training, the paired
targets of a label volume for inference, a check that the generated nuclei are brighter than their surround, and
the 64^3 training pairs written in the canonical layout.

Reference:
    Seed 001, section 2.1 and 3: I_binary, I_contour, I_shapemarker (Eqs. 1-3), I_binary blurred by a Gaussian PSF
    of sigma 2 as the GAN's input; the generated volumes "divided into ... pairs of smaller volumes (64 x 64 x 64)".
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable
from monai.utils import convert_to_numpy, ensure_tuple_rep
from scipy import ndimage

from cellbundles.data import build_datalist, write_datalist
from cellbundles.io import image_stem, read_image, write_image
from cellbundles.synth import gan_phantom3d, paired_targets
from cellbundles.utils import spacing_from_affine

from .targets import seamed_foreground
from .utils import describe

__all__ = [
    "GANPhantomd",
    "GANPhantomD",
    "GANPhantomDict",
    "NucleusContrastd",
    "NucleusContrastD",
    "NucleusContrastDict",
    "PAIR_FOLDERS",
    "PairedTargetsd",
    "PairedTargetsD",
    "PairedTargetsDict",
    "SavePairedCropsd",
    "SavePairedCropsD",
    "SavePairedCropsDict",
    "write_pairs_datalist",
    "write_raw_pairs",
]

PAIR_FOLDERS = ("images", "labels", "contour", "shapemarker")
"""Folders of a pairs dataset: I_syn, I_binary as instance labels, I_contour, I_shapemarker."""


def _affine(spacing: Sequence[float]) -> torch.Tensor:
    affine = torch.eye(len(spacing) + 1, dtype=torch.float64)
    affine[: len(spacing), : len(spacing)] = torch.diag(torch.tensor([float(s) for s in spacing], dtype=torch.float64))
    return affine


def _like(array: np.ndarray, reference: MetaTensor | None, spacing: Sequence[float] | None = None) -> MetaTensor:
    """``(1, *spatial)`` MetaTensor of ``array`` with ``reference``'s metadata (or a diagonal affine of ``spacing``)."""
    data = torch.as_tensor(np.ascontiguousarray(array)[None])
    if reference is not None:
        meta = {key: value for key, value in reference.meta.items() if key != "affine"}
        return MetaTensor(data, affine=reference.affine.clone(), meta=meta)
    return MetaTensor(data, affine=_affine(spacing))


def _scale_to_unit_range(image: np.ndarray) -> np.ndarray:
    """``[0, 1]`` -> ``[-1, 1]``, the range of the GAN's domains."""
    return (2.0 * image - 1.0).astype(np.float32)


class GANPhantomd(Randomizable, MapTransform):
    """Draw a new phantom (:func:`cellbundles.synth.gan_phantom3d`) for every item: its PSF-blurred I_binary, scaled
    to ``[-1, 1]``, goes to each key as a ``(1, Z, Y, X)`` MetaTensor (the Recycle-GAN's domain A, unpaired with the
    item's real volume).

    Args:
        keys: output keys.
        shape: phantom shape ``(Z, Y, X)``.
        semi_axes_um: ``(r_min, r_max)`` of every semi-axis.
        spacing: voxel size ``(z, y, x)`` in um; None: that of ``reference_key``'s image, so that phantom nuclei are
            as many voxels across as real ones of ``semi_axes_um``.
        reference_key: key of a loaded image whose spacing to use when ``spacing`` is None.
        orientation, packing, touching_fraction, psf_sigma: as in :func:`~cellbundles.synth.gan_phantom3d`.
    """

    def __init__(
        self,
        keys: KeysCollection,
        shape: Sequence[int],
        semi_axes_um: Sequence[float],
        spacing: Sequence[float] | None = None,
        reference_key: str | None = "image",
        orientation: str = "random",
        packing: float = 0.25,
        touching_fraction: float = 0.3,
        psf_sigma: float | Sequence[float] = 2.0,
    ) -> None:
        super().__init__(keys, allow_missing_keys=True)
        if spacing is None and reference_key is None:
            raise ValueError("GANPhantomd: give a spacing or a reference_key.")
        self.spacing = spacing
        self.reference_key = reference_key
        self.options = {"shape": tuple(int(s) for s in shape), "semi_axes_um": tuple(semi_axes_um),
                        "orientation": orientation, "packing": packing, "touching_fraction": touching_fraction,
                        "psf_sigma": psf_sigma}  # fmt: skip

    def randomize(self, data: Any = None) -> None:
        self._seed = int(self.R.randint(2**31))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        spacing = self.spacing
        if spacing is None:
            spacing = spacing_from_affine(convert_to_numpy(d[self.reference_key].affine))
        for key in self.keys:
            self.randomize()
            sample = gan_phantom3d(self._seed, spacing=spacing, **self.options)
            d[key] = _like(_scale_to_unit_range(sample["image"]), None, spacing)
        return d


class PairedTargetsd(MapTransform):
    """From a loaded binary or instance-label volume ``(1, Z, Y, X)``: its instances, I_binary, I_contour and
    I_shapemarker (:func:`cellbundles.synth.paired_targets`, the shape marker measured on each instance in physical
    units), and the Recycle-GAN's input (I_binary blurred by the PSF, in ``[-1, 1]``).

    Instances are the volume's values when they are non-negative whole numbers with more than one non-zero value
    (instance labels), else the connected components (6-connectivity) of its non-zero voxels (a binary mask, or any
    other volume).

    Args:
        keys: key of the loaded label volume (one key).
        image_key: output key of the GAN input.
        instances_key, binary_key, contour_key, shapemarker_key: output keys (uint8 maps, int32 instances).
        psf_sigma: Gaussian PSF sigma in voxels (2 in the paper).
        gap_width: I_binary without the voxels within ``gap_width`` of another nucleus
            (:func:`cellbundles.transforms.seamed_foreground`): touching nuclei part by a background seam, in the
            GAN input and in the segmentation target; 0: the paper's I_binary.
    """

    def __init__(
        self,
        keys: KeysCollection,
        image_key: str = "image",
        instances_key: str = "instances",
        binary_key: str = "binary",
        contour_key: str = "contour",
        shapemarker_key: str = "shapemarker",
        psf_sigma: float | Sequence[float] = 2.0,
        gap_width: int = 0,
    ) -> None:
        super().__init__(keys)
        if gap_width < 0:
            raise ValueError(f"gap_width must be >= 0 voxels, got {gap_width}.")
        self.output_keys = {"image": image_key, "instances": instances_key, "binary": binary_key,
                            "contour": contour_key, "shapemarker": shapemarker_key}  # fmt: skip
        self.psf_sigma = psf_sigma
        self.gap_width = gap_width

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            volume = d[key]
            values = convert_to_numpy(volume)
            if values.ndim != 4 or values.shape[0] != 1:
                raise ValueError(f"{describe(volume, key)}: expected one channel of a 3D volume, got {values.shape}.")
            values = values[0]
            if len(np.unique(values[values != 0])) > 1 and np.all(values == np.round(values)) and values.min() >= 0:
                instances = values.astype(np.int32)
            else:
                instances = ndimage.label(values > 0)[0].astype(np.int32)
            spacing = spacing_from_affine(convert_to_numpy(volume.affine))
            targets = paired_targets(instances, spacing)
            if self.gap_width:
                targets["binary"] = seamed_foreground(instances, self.gap_width).astype(np.uint8)
            blurred = ndimage.gaussian_filter(targets["binary"].astype(np.float32), self.psf_sigma, mode="constant")
            outputs = {"instances": instances, "image": _scale_to_unit_range(np.clip(blurred, 0.0, 1.0)), **targets}
            for name, array in outputs.items():
                d[self.output_keys[name]] = _like(array, volume if isinstance(volume, MetaTensor) else None, spacing)
        return d


class NucleusContrastd(MapTransform):
    """The contrast of a generated volume between the phantom nuclei and their surround,
    ``(mean inside - mean outside) / (mean inside + mean outside)`` in [-1, 1], with a warning naming the input file
    when it is not positive: an unpaired GAN can learn the inverted mapping (dense tissue, where nuclei and the space
    between them are both textured, lets it), and such pairs would teach the segmentation network the opposite.

    Args:
        keys: keys of the ``(1, D, H, W)`` non-negative generated volumes (I_syn scaled to [0, 1]).
        label_key: key of the ``(1, D, H, W)`` instance labels the volumes were generated from.
        contrast_keys: output keys of the contrasts (floats; NaN when the labels hold no nucleus or no background).
        ref_key: key of the loaded input, whose file the warning names.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "instances",
        contrast_keys: KeysCollection = "nucleus_contrast",
        ref_key: str = "label",
    ) -> None:
        super().__init__(keys)
        self.label_key = label_key
        self.contrast_keys = ensure_tuple_rep(contrast_keys, len(self.keys))
        self.ref_key = ref_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        inside = convert_to_numpy(d[self.label_key])[0] > 0
        for key, contrast_key in self.key_iterator(d, self.contrast_keys):
            d[contrast_key] = float("nan")
            if inside.all() or not inside.any():
                continue
            volume = convert_to_numpy(d[key])[0].astype(np.float64)
            mean_in, mean_out = volume[inside].mean(), volume[~inside].mean()
            d[contrast_key] = float((mean_in - mean_out) / max(mean_in + mean_out, 1e-12))
            if d[contrast_key] <= 0:
                source = getattr(d.get(self.ref_key), "meta", {}).get("filename_or_obj", self.ref_key)
                warnings.warn(
                    f"{source}: the generated volume is darker inside the phantom nuclei than around them (contrast "
                    f"{d[contrast_key]:.2f}): the generator inverted the contrast, and these pairs would teach a "
                    "segmentation network the opposite. Retrain the generator (for example with --semi_axes_um and "
                    "--packing closer to the real nuclei) before training on them."
                )
        return d


class SavePairedCropsd(MapTransform):
    """Cut an item's paired volumes into tiles of ``crop_size`` (seed 001: 128^3 volumes into 64^3 pairs) and write
    them into ``output_dir`` in the canonical layout: ``images/<stem>_<k>.tif`` (I_syn), ``labels/`` (instances),
    ``contour/``, ``shapemarker/``, with the reference's voxel size.

    Tiles do not overlap and start at 0 along each axis; an axis shorter than ``crop_size`` gives one tile of its
    whole length, the remainder of a longer one is left out.

    Args:
        keys: keys of the four volumes, in the order of :data:`PAIR_FOLDERS`.
        output_dir: the pairs dataset folder.
        ref_key: key of the loaded input (file name and voxel size).
        crop_size: tile size per axis (one value or ``(Z, Y, X)``).
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        ref_key: str = "label",
        crop_size: int | Sequence[int] = 64,
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != len(PAIR_FOLDERS):
            raise ValueError(f"SavePairedCropsd: give {len(PAIR_FOLDERS)} keys ({', '.join(PAIR_FOLDERS)}).")
        self.output_dir = Path(output_dir)
        self.ref_key = ref_key
        self.crop_size = tuple(np.broadcast_to(np.asarray(crop_size, dtype=int), (3,)).tolist())

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        reference = d[self.ref_key]
        stem = image_stem(reference.meta["filename_or_obj"])
        spacing = spacing_from_affine(convert_to_numpy(reference.meta.get("original_affine", reference.affine)))
        volumes = [convert_to_numpy(d[key])[0] for key in self.keys]
        shape = volumes[0].shape
        tiles = [min(c, s) for c, s in zip(self.crop_size, shape)]
        starts = np.stack(np.meshgrid(*[np.arange(0, s - t + 1, t) for s, t in zip(shape, tiles)], indexing="ij"))
        for index, start in enumerate(starts.reshape(3, -1).T):
            box = tuple(slice(a, a + t) for a, t in zip(start, tiles))
            for folder, volume in zip(PAIR_FOLDERS, volumes):
                write_image(self.output_dir / folder / f"{stem}_{index:03d}.tif", volume[box], spacing)
        return d


def write_pairs_datalist(output_dir: str | os.PathLike, val_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write ``<output_dir>/datalist.json`` for a pairs dataset: :func:`cellbundles.data.build_datalist` with the
    ``contour`` and ``shapemarker`` paths added to every item; return its path."""
    output_dir = Path(output_dir)
    datalist = build_datalist(output_dir, val_fraction=val_fraction, seed=seed)
    for section in ("training", "validation", "test"):
        for item in datalist[section]:
            name = Path(item["image"]).name
            item.update({folder: f"{folder}/{name}" for folder in PAIR_FOLDERS[2:]})
    write_datalist(output_dir / "datalist.json", datalist)
    return output_dir / "datalist.json"


def write_raw_pairs(
    pairs_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    psf_sigma: float | Sequence[float] = 2.0,
    noise_std: float = 0.05,
    seed: int = 0,
    gap_width: int = 0,
) -> Path:
    """A copy of a pairs dataset without the GAN: each image is its labels' I_binary blurred by the PSF (the GAN's
    input, in ``[0, 1]``) plus Gaussian noise of ``noise_std``; labels, contours, shape markers and the datalist are
    copied. The "raw phantoms" that a segmentation network trained on the GAN's pairs is compared with; give the
    ``gap_width`` the pairs were made with (:class:`PairedTargetsd`).

    Returns:
        the datalist of the copy.
    """
    pairs_dir, output_dir = Path(pairs_dir), Path(output_dir)
    rng = np.random.default_rng(seed)
    for label_file in sorted((pairs_dir / "labels").iterdir()):
        labels, spacing = read_image(label_file)
        binary = seamed_foreground(labels, gap_width).astype(np.float32)
        blurred = ndimage.gaussian_filter(binary, psf_sigma, mode="constant")
        image = np.clip(blurred, 0.0, 1.0) + rng.normal(0.0, noise_std, labels.shape).astype(np.float32)
        write_image(output_dir / "images" / label_file.name, image.astype(np.float32), spacing)
        for folder in PAIR_FOLDERS[1:]:
            (output_dir / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pairs_dir / folder / label_file.name, output_dir / folder / label_file.name)
    shutil.copyfile(pairs_dir / "datalist.json", output_dir / "datalist.json")
    return output_dir / "datalist.json"


GANPhantomD = GANPhantomDict = GANPhantomd
PairedTargetsD = PairedTargetsDict = PairedTargetsd
NucleusContrastD = NucleusContrastDict = NucleusContrastd
SavePairedCropsD = SavePairedCropsDict = SavePairedCropsd
