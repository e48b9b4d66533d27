"""A corpus of bad and odd input files for the bundle tests, written on the fly (issue 17).

Every case writes one file into a folder for a bundle of 2 or 3 spatial dimensions and says what the bundle
must do with it: stop with an error whose message matches ``cause`` (bad input), or run and log a line
matching ``cause`` (valid but odd input). What a bundle accepts follows its dimensionality (docs/design.md,
"Accepted input"): 2D bundles read grey, RGB and RGBA images and need no voxel size; 3D bundles read grey
stacks and need a voxel size (from the file or ``--input_spacing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch

from cellbundles.io import write_image

__all__ = ["BAD", "ODD", "Case", "Payload", "cases", "nuclei", "write_pickled_weights"]

SPACING = {2: (0.5, 0.5), 3: (1.0, 0.5, 0.5)}
"""Voxel size written with the valid images, (z,) y, x in micrometres."""


def nuclei(shape: tuple[int, ...], dtype=np.uint16, seed: int = 0) -> np.ndarray:
    """A dark image with a few bright round nuclei (radius 4 voxels) and noise, of any 2D / 3D ``shape``."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    image = np.zeros(shape)
    for _ in range(4):
        centre = [rng.uniform(size * 0.25, size * 0.75) for size in shape]
        image[sum((axis - c) ** 2 for axis, c in zip(grid, centre)) <= 16] = 1.0
    image = 0.1 + 0.8 * image + rng.normal(0.0, 0.02, shape)
    scale = 1.0 if np.issubdtype(dtype, np.floating) else 60000.0
    return (np.clip(image, 0.0, 1.0) * scale).astype(dtype)


def _shape(spatial_dims: int, size: int = 48) -> tuple[int, ...]:
    return (16, size, size) if spatial_dims == 3 else (size, size)


def _valid(folder: Path, name: str, spatial_dims: int) -> Path:
    """A valid image with its voxel size, the starting point of the damaged files."""
    path = folder / name
    write_image(path, nuclei(_shape(spatial_dims)), SPACING[spatial_dims])
    return path


def _empty(folder: Path, dims: int) -> Path:
    (folder / "empty.tif").write_bytes(b"")
    return folder / "empty.tif"


def _text(folder: Path, dims: int) -> Path:
    (folder / "text.tif").write_text("this is a text file, not an image\n")
    return folder / "text.tif"


def _truncated(folder: Path, dims: int) -> Path:
    path = _valid(folder, "truncated.tif", dims)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _with_value(value: float) -> Callable[[Path, int], Path]:
    def write(folder: Path, dims: int) -> Path:
        image = nuclei(_shape(dims), np.float32)
        image[(0,) * dims] = value
        path = folder / f"{'nan' if np.isnan(value) else 'inf'}.tif"
        tifffile.imwrite(path, image)  # write_image refuses non-finite pixels
        return path

    return write


def _five_d(folder: Path, dims: int) -> Path:
    tifffile.imwrite(folder / "five_d.tif", np.random.default_rng(0).random((4, 8, 8, 8, 8), np.float32))
    return folder / "five_d.tif"


def _single_voxel(folder: Path, dims: int) -> Path:
    write_image(folder / "single_voxel.tif", np.ones((1,) * dims, np.uint16), (1.0,) * dims)
    return folder / "single_voxel.tif"


def _rgb(folder: Path, dims: int) -> Path:
    grey = nuclei((48, 48), np.uint8)
    write_image(folder / "rgb.png", np.repeat(grey[..., None], 3, axis=-1), rgb=True)
    return folder / "rgb.png"


def _stack(folder: Path, dims: int) -> Path:
    write_image(folder / "stack.tif", nuclei((8, 48, 48)), SPACING[3])
    return folder / "stack.tif"


def _channel_last(folder: Path, dims: int) -> Path:
    """Two channels stored last in a plain TIFF, without metadata that says they are channels."""
    tifffile.imwrite(folder / "channel_last.tif", nuclei((*_shape(dims), 2)))
    return folder / "channel_last.tif"


def _voxel_size(value: float) -> Callable[[Path, int], Path]:
    def write(folder: Path, dims: int) -> Path:
        path = folder / ("voxel_size_zero.ome.tif" if value == 0 else "voxel_size_negative.ome.tif")
        axes = "ZYX"[3 - dims :]
        metadata = {"axes": axes, **{f"PhysicalSize{axis}": value for axis in axes}}
        tifffile.imwrite(path, nuclei(_shape(dims)), ome=True, metadata=metadata)
        return path

    return write


def _no_voxel_size(folder: Path, dims: int) -> Path:
    tifffile.imwrite(folder / "no_voxel_size.tif", nuclei(_shape(dims)))
    return folder / "no_voxel_size.tif"


def _broken_nifti(folder: Path, dims: int) -> Path:
    path = folder / "broken_header.nii"
    write_image(path, nuclei(_shape(dims)), SPACING[dims])
    data = bytearray(path.read_bytes())
    data[40:56] = np.array([9, -3, 0, 0, 0, 0, 0, 0], np.int16).tobytes()  # dim[]: 9 dimensions, one negative
    path.write_bytes(bytes(data))
    return path


def _blank(folder: Path, dims: int) -> Path:
    write_image(folder / "blank.tif", np.zeros(_shape(dims), np.uint16), SPACING[dims])
    return folder / "blank.tif"


def _constant(folder: Path, dims: int) -> Path:
    write_image(folder / "constant.tif", np.full(_shape(dims), 1000, np.uint16), SPACING[dims])
    return folder / "constant.tif"


def _float64(folder: Path, dims: int) -> Path:
    write_image(folder / "float64.nii.gz", nuclei(_shape(dims), np.float64), SPACING[dims])
    return folder / "float64.nii.gz"


def _odd_size(folder: Path, dims: int) -> Path:
    shape = (7, 37, 53) if dims == 3 else (37, 53)
    write_image(folder / "odd_size.tif", nuclei(shape), SPACING[dims])
    return folder / "odd_size.tif"


@dataclass(frozen=True)
class Case:
    """One input file: ``write(folder, spatial_dims) -> path``; ``cause`` a regex of the error (bad input)
    or of a logged line (valid input); ``dims`` the bundle dimensionalities the case applies to."""

    name: str
    write: Callable[[Path, int], Path]
    cause: str
    dims: tuple[int, ...] = (2, 3)


BAD = (
    Case("empty", _empty, "cannot read TIFF file"),
    Case("text", _text, "cannot read TIFF file"),
    Case("truncated", _truncated, "cannot read TIFF file"),
    Case("nan", _with_value(np.nan), "1 NaN"),
    Case("inf", _with_value(np.inf), "1 infinite"),
    Case("five_d", _five_d, "cannot map the TIFF axes"),
    Case("single_voxel", _single_voxel, "too small|expected a 3D image"),
    Case("rgb", _rgb, "single-channel", dims=(3,)),
    Case("stack", _stack, "expected a 2D image", dims=(2,)),
    Case("channel_last", _channel_last, "channel axis"),
    Case("voxel_size_zero", _voxel_size(0.0), "voxel size.*--input_spacing", dims=(3,)),
    Case("voxel_size_negative", _voxel_size(-0.5), "voxel size.*--input_spacing", dims=(3,)),
    Case("no_voxel_size", _no_voxel_size, "voxel size.*--input_spacing", dims=(3,)),
    Case("broken_nifti", _broken_nifti, "cannot read NIfTI file"),
)
"""Files every bundle of the given dimensionality must refuse."""

ODD = (
    Case("blank", _blank, "constant image"),
    Case("constant", _constant, "constant image"),
    Case("float64", _float64, "voxels of float64"),
    Case("odd_size", _odd_size, "smaller than the network's|padded from"),
    Case("voxel_size_zero", _voxel_size(0.0), "no voxel size", dims=(2,)),
)
"""Valid but odd files every bundle of the given dimensionality must process, saying what it did."""


def cases(corpus: tuple[Case, ...], spatial_dims: int) -> list[Case]:
    """The cases of ``corpus`` that apply to a bundle with ``spatial_dims`` spatial dimensions."""
    return [case for case in corpus if spatial_dims in case.dims]


class Payload:
    """Pickled code: unpickling it calls ``print`` (harmless here, arbitrary code in a real attack)."""

    def __reduce__(self):
        return print, ("PAYLOAD RAN",)


def write_pickled_weights(path: Path, state: dict) -> Path:
    """A weights file holding ``state`` and a :class:`Payload`, which ``torch.load(weights_only=True)`` refuses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "extra": Payload()}, path)
    return path
