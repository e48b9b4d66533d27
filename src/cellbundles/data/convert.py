"""Converters from published dataset layouts to the canonical layout (docs/design.md, "Data layout").

Each converter reads the extracted files under a ``raw`` folder and writes, under an output folder::

    images/<id>.tif       the image (TIFF with spacing in the ImageJ metadata; or the source file copied)
    labels/<id>.tif       instance labels, 0 = background, uint16 (uint32 beyond 65535 objects)
    centroids/<id>.csv    optional, from centre markers: ``id,z,y,x`` (``id,y,x`` in 2D) in voxels, plus
                          ``z_um,y_um,x_um`` when the spacing is known and ``label`` (the object under
                          the marker, 0 if none); see :func:`cellbundles.io.write_centroids_csv`
    nuclei/<id>.tif       two-channel cell datasets (:func:`convert_two_channel_cells`): nucleus instance
                          labels; there ``images/<id>.tif`` is a 2-plane stack (nucleus, cell) and
                          ``datalist.json`` holds the training / validation / test split

Manifests name a converter and its keyword parameters (``conversion`` in ``data_manifests/*.json``);
:func:`run_converter` checks the parameters and runs it. Every file is written atomically.

Source files are located with path patterns relative to the raw folder, matched case-insensitively:

- ``{id}`` is the sample id (no ``/``); it may occur several times and stands for the same text each time;
- ``*`` matches any characters except ``/``, ``?`` one such character;
- ``**/`` matches any number of folders (none included), at most once per pattern.

The image pattern defines the samples and must contain ``{id}``. A companion pattern (labels, masks,
markers) must contain ``{id}`` too; when both it and the image pattern contain ``**/``, both stand for
the same folders, so ``**/{id}/images/{id}.png`` pairs with ``**/{id}/masks/*.png`` of the same sample.
Images without annotation are skipped (reported on stderr); a pattern that matches nothing is an error.
"""

from __future__ import annotations

import csv
import inspect
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellbundles.data.datalist import build_datalist, write_datalist
from cellbundles.data.layout import CENTROIDS_DIR, IMAGES_DIR, LABELS_DIR, NUCLEI_DIR
from cellbundles.io import atomic_write, decode_image, image_stem, read_labels, write_centroids_csv, write_image

__all__ = [
    "CONVERTERS",
    "check_converter_parameters",
    "convert_dsb2018",
    "convert_dsb2018_rle",
    "convert_paired_files",
    "convert_per_object_masks",
    "convert_two_channel_cells",
    "decode_rle",
    "run_converter",
]

_PATTERN_PARAMETERS = ("images", "labels", "masks", "markers")
_PATTERN_PARAMETERS += ("cell_images", "nucleus_images", "cell_masks", "nucleus_masks", "test_images")
_IMAGE_FORMATS = ("tif", "copy")


class _PathPattern:
    """A compiled source-path pattern (syntax in the module docstring)."""

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"a path pattern must be a non-empty string, got {pattern!r}.")
        normalised = pattern.replace("\\", "/")
        if normalised.startswith("/") or ".." in normalised.split("/"):
            raise ValueError(f"path pattern {pattern!r} must stay inside the raw folder (no leading '/', no '..').")
        self.text = pattern
        self.has_id = "{id}" in normalised
        self.has_deep = "**/" in normalised
        self.regex = re.compile(self._translate(normalised), re.IGNORECASE)

    def _translate(self, pattern: str) -> str:
        parts, index, seen_id, seen_deep = [], 0, False, False
        while index < len(pattern):
            if pattern.startswith("{id}", index):
                parts.append("(?P=id)" if seen_id else "(?P<id>[^/]+?)")
                seen_id, index = True, index + 4
            elif pattern.startswith("**/", index):
                if seen_deep or (index > 0 and pattern[index - 1] != "/"):
                    raise ValueError(f"path pattern {self.text!r}: '**/' must start a folder and occur at most once.")
                parts.append("(?P<deep>(?:[^/]+/)*)")
                seen_deep, index = True, index + 3
            elif pattern.startswith("**", index):
                raise ValueError(f"path pattern {self.text!r}: '**' must be a whole folder followed by '/'.")
            elif pattern[index] == "*":
                parts.append("[^/]*")
                index += 1
            elif pattern[index] == "?":
                parts.append("[^/]")
                index += 1
            else:
                parts.append(re.escape(pattern[index]))
                index += 1
        return "".join(parts)

    def group(self, files: Sequence[str], use_deep: bool) -> dict[tuple[str, str], list[str]]:
        """Files matching the pattern, grouped by (id, folders matched by ``**/`` or "")."""
        groups: dict[tuple[str, str], list[str]] = {}
        for relative in files:
            match = self.regex.fullmatch(relative)
            if match is not None:
                key = (match.group("id").casefold(), match.group("deep").casefold() if use_deep else "")
                groups.setdefault(key, []).append(relative)
        return groups


def _list_files(root: Path) -> list[str]:
    """Every file below ``root`` as a sorted list of '/'-separated relative paths."""
    files = []
    for folder, _, names in os.walk(root):
        relative_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative_folder == "." else relative_folder + "/"
        files.extend(prefix + name for name in names)
    return sorted(files)


def _join(root: str, pattern: str) -> str:
    return pattern if root in ("", ".") else f"{root.rstrip('/')}/{pattern}"


class _Samples:
    """Images found by a pattern, and lookup of their companion files."""

    def __init__(self, raw_dir: Path, images: str) -> None:
        self.raw_dir = Path(raw_dir)
        if not self.raw_dir.is_dir():
            raise ValueError(f"{self.raw_dir}: raw data folder not found.")
        self.files = _list_files(self.raw_dir)
        self.pattern = _PathPattern(images)
        if not self.pattern.has_id:
            raise ValueError(f"image pattern {images!r} must contain '{{id}}'.")
        self.items: list[tuple[str, tuple[str, str], Path]] = []
        by_id: dict[str, list[str]] = {}
        for relative in self.files:
            match = self.pattern.regex.fullmatch(relative)
            if match is None:
                continue
            sample_id = match.group("id")
            by_id.setdefault(sample_id.casefold(), []).append(relative)
            key = (sample_id.casefold(), match.group("deep").casefold() if self.pattern.has_deep else "")
            self.items.append((sample_id, key, self.raw_dir / relative))
        clashes = {key: paths for key, paths in by_id.items() if len(paths) > 1}
        if clashes:
            example = next(iter(clashes.values()))
            raise ValueError(
                f"{self.raw_dir}: image pattern {images!r} gives the same id to several files, e.g. {example}."
            )
        if not self.items:
            raise ValueError(f"{self.raw_dir}: no file matches the image pattern {images!r}.")

    def companions(self, pattern_text: str) -> Callable[[tuple[str, str]], list[Path]]:
        """Lookup function: sample key -> sorted companion files matching ``pattern_text``."""
        pattern = _PathPattern(pattern_text)
        if not pattern.has_id:
            raise ValueError(f"pattern {pattern_text!r} must contain '{{id}}' to be paired with the images.")
        use_deep = pattern.has_deep and self.pattern.has_deep
        groups = pattern.group(self.files, use_deep)

        def lookup(key: tuple[str, str]) -> list[Path]:
            return [
                self.raw_dir / relative for relative in sorted(groups.get((key[0], key[1] if use_deep else ""), []))
            ]

        return lookup


def _report_skipped(kind: str, skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        sys.stderr.write(f"skipped {len(skipped)} image(s) without {kind}: {shown}\n")


def _color_reduce(array: np.ndarray, rgb: bool, channel_reduce: str | int | None) -> tuple[np.ndarray, bool]:
    """Drop the alpha channel of an RGB(A) image and apply ``channel_reduce``; returns (array, still colour).

    With ``channel_reduce`` None the colour axis is kept unless all colour channels are equal (a grey
    image stored as RGB), in which case one channel is returned.
    """
    if not rgb:
        return array, False
    color = array[..., :3]
    if channel_reduce == "max":
        return color.max(axis=-1), False
    if isinstance(channel_reduce, int):
        return color[..., channel_reduce], False
    if np.array_equal(color[..., 0], color[..., 1]) and np.array_equal(color[..., 0], color[..., 2]):
        return color[..., 0], False
    return color, True


def _check_channel_reduce(channel_reduce: str | int | None) -> None:
    if (
        channel_reduce is None
        or channel_reduce == "max"
        or (isinstance(channel_reduce, int) and 0 <= channel_reduce < 3)
    ):
        return
    raise ValueError(f"channel_reduce must be None, 'max' or a channel index 0-2, got {channel_reduce!r}.")


class _Image:
    """A source image after colour handling: pixels, spacing read from the file, colour flag."""

    def __init__(self, path: Path, channel_reduce: str | int | None) -> None:
        array, self.spacing, rgb = decode_image(path)
        self.path = path
        self.array, self.rgb = _color_reduce(np.asarray(array), rgb, channel_reduce)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape, (Y, X) or (Z, Y, X)."""
        return tuple(self.array.shape[:-1]) if self.rgb else tuple(self.array.shape)


def _read_mask(path: Path) -> np.ndarray:
    """A mask or marker image as one channel (the maximum over colour channels of an RGB(A) file)."""
    return _Image(path, "max").array


def _label_dtype(labels: np.ndarray) -> np.ndarray:
    """Instance labels as uint16, or uint32 when there are more than 65535 ids."""
    maximum = int(labels.max()) if labels.size else 0
    return labels.astype(np.uint16 if maximum <= np.iinfo(np.uint16).max else np.uint32)


def _resolve_spacing(spacing: Sequence[float] | None, image: _Image) -> tuple[float, ...] | None:
    chosen = spacing if spacing is not None else image.spacing
    if chosen is None:
        return None
    chosen = tuple(float(value) for value in chosen)
    n_spatial = len(image.shape)
    if len(chosen) == 3 and n_spatial == 2:
        chosen = chosen[1:]
    if len(chosen) != n_spatial:
        raise ValueError(f"{image.path}: spacing {chosen} does not fit an image with {n_spatial} spatial axes.")
    return chosen


def _connected_components(mask: np.ndarray, connectivity: int) -> np.ndarray:
    from scipy import ndimage

    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(f"connectivity must be between 1 and {mask.ndim}, got {connectivity}.")
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    labels, _ = ndimage.label(mask, structure=structure)
    return labels


def _write_sample(
    out_dir: Path,
    sample_id: str,
    image: _Image,
    labels: np.ndarray,
    spacing: tuple[float, ...] | None,
    image_format: str,
) -> None:
    if image_format == "copy":
        with atomic_write(out_dir / IMAGES_DIR / f"{sample_id}{image.path.suffix.lower()}") as temporary:
            shutil.copyfile(image.path, temporary)
    else:
        write_image(out_dir / IMAGES_DIR / f"{sample_id}.tif", image.array, spacing=spacing, rgb=image.rgb)
    write_image(out_dir / LABELS_DIR / f"{sample_id}.tif", _label_dtype(labels), spacing=spacing, rgb=False)


def _write_centroids(path: Path, markers: np.ndarray, labels: np.ndarray, spacing: tuple[float, ...] | None) -> None:
    """Write the centre of every connected marker blob, with the label it lies on."""
    from scipy import ndimage

    blobs = _connected_components(markers > 0, connectivity=markers.ndim)
    count = int(blobs.max())
    centres = np.asarray(ndimage.center_of_mass(np.ones_like(blobs), blobs, range(1, count + 1)), dtype=np.float64)
    under_labels = []
    for blob in range(1, count + 1):
        under = labels[(blobs == blob) & (labels > 0)]
        under_labels.append(int(np.bincount(under).argmax()) if under.size else 0)
    write_centroids_csv(
        path,
        centres.reshape(count, markers.ndim),
        spacing=spacing,
        extra_columns={"label": np.asarray(under_labels, dtype=np.int64)},
    )


def _instances_from_masks(
    paths: Sequence[Path], shape: tuple[int, ...], image_path: Path, threshold: float, fill_holes: bool = False
) -> np.ndarray:
    """Merge one binary mask file per object into instance labels 1..N (sorted file order, earlier wins)."""
    from scipy import ndimage

    labels = np.zeros(shape, dtype=np.uint32)
    for object_id, mask_path in enumerate(paths, start=1):
        mask = _read_mask(mask_path)
        if mask.shape != shape:
            raise ValueError(f"{mask_path}: mask shape {mask.shape} differs from the image {image_path} shape {shape}.")
        foreground = mask > threshold
        if fill_holes:
            foreground = ndimage.binary_fill_holes(foreground)
        labels[foreground & (labels == 0)] = object_id
    return labels


def convert_per_object_masks(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    images: str,
    masks: str,
    image_format: str = "tif",
    channel_reduce: str | int | None = None,
    mask_threshold: float = 0,
    spacing: Sequence[float] | None = None,
) -> int:
    """Merge one binary mask file per object into an instance label image per sample.

    Objects get ids 1, 2, ... in the sorted order of their mask files; where masks overlap, the earlier
    object keeps the pixel.

    Args:
        raw_dir: folder holding the extracted dataset.
        out_dir: output folder (``images/``, ``labels/`` are created).
        images: image path pattern with ``{id}``.
        masks: per-object mask pattern with ``{id}`` and usually ``*``, e.g. ``**/{id}/masks/*.png``.
        image_format: ``"tif"`` (read, reduce colour, write TIFF with spacing) or ``"copy"`` (the source
            file unchanged, with its own extension).
        channel_reduce: for RGB(A) images: None keeps colour unless all channels are equal, ``"max"`` takes
            the maximum over R, G, B, an integer selects one channel.
        mask_threshold: a mask pixel belongs to the object when its value is above this.
        spacing: (z, y, x) or (y, x) in um written to the TIFFs; None uses the spacing read from the image.

    Returns:
        the number of samples written.
    """
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {_IMAGE_FORMATS}, got {image_format!r}.")
    _check_channel_reduce(channel_reduce)
    samples = _Samples(Path(raw_dir), images)
    mask_files = samples.companions(masks)
    written, skipped = 0, []
    for sample_id, key, image_path in samples.items:
        paths = mask_files(key)
        if not paths:
            skipped.append(sample_id)
            continue
        image = _Image(image_path, channel_reduce)
        labels = _instances_from_masks(paths, image.shape, image_path, mask_threshold)
        _write_sample(Path(out_dir), sample_id, image, labels, _resolve_spacing(spacing, image), image_format)
        written += 1
    _report_skipped("object masks", skipped)
    if not written:
        raise ValueError(f"{raw_dir}: no image matching {images!r} has masks matching {masks!r}.")
    return written


def convert_dsb2018(
    raw_dir: str | os.PathLike, out_dir: str | os.PathLike, *, root: str = "stage1_train", image_format: str = "tif"
) -> int:
    """Convert the 2018 Data Science Bowl training layout (BBBC038 ``stage1_train``).

    Source: ``<root>/[...]/<id>/images/<id>.png`` and one binary PNG per nucleus in
    ``<root>/[...]/<id>/masks/*.png`` (Caicedo et al., Nature Methods 16, 2019). Output:
    ``images/<id>.tif`` (or the PNG copied with ``image_format="copy"``) and ``labels/<id>.tif`` with one
    id per mask file in sorted file-name order.

    Args:
        raw_dir: folder holding the extracted archive.
        out_dir: output folder.
        root: folder below ``raw_dir`` holding the sample folders (any depth of extra folders is allowed).
        image_format: ``"tif"`` or ``"copy"``, see :func:`convert_per_object_masks`.

    Returns:
        the number of samples written.
    """
    return convert_per_object_masks(
        raw_dir,
        out_dir,
        images=_join(root, "**/{id}/images/{id}.png"),
        masks=_join(root, "**/{id}/masks/*.png"),
        image_format=image_format,
    )


def decode_rle(encoded: str, shape: Sequence[int]) -> np.ndarray:
    """Decode a Data Science Bowl run-length encoding into a boolean (H, W) mask.

    The encoding is pairs ``start length`` with 1-based pixel numbers counted top to bottom, then left
    to right (column-major).

    Args:
        encoded: space-separated integers; an empty string gives an empty mask.
        shape: (H, W).

    Raises:
        ValueError: an odd number of values or a run outside the image.
    """
    height, width = (int(value) for value in shape)
    values = np.asarray(encoded.split(), dtype=np.int64)
    if values.size % 2:
        raise ValueError(f"run-length encoding has an odd number of values ({values.size}).")
    flat = np.zeros(height * width, dtype=bool)
    for start, length in zip(values[0::2] - 1, values[1::2], strict=True):
        if start < 0 or length < 0 or start + length > flat.size:
            raise ValueError(f"run ({start + 1}, {length}) lies outside an image of shape {(height, width)}.")
        flat[start : start + length] = True
    return flat.reshape((height, width), order="F")


def _read_rle_table(path: Path) -> dict[str, list[dict[str, str]]]:
    if not path.is_file():
        raise ValueError(f"{path}: run-length solution file not found.")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "ImageId" not in columns or "EncodedPixels" not in columns:
            raise ValueError(f"{path}: expected columns ImageId and EncodedPixels, found {columns}.")
        rows: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            rows.setdefault(row["ImageId"].strip().casefold(), []).append(row)
    return rows


def convert_dsb2018_rle(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    images: str = "stage1_test/**/{id}/images/{id}.png",
    solution: str = "stage1_solution.csv",
    image_format: str = "tif",
) -> int:
    """Convert Data Science Bowl images whose nuclei are given as run-length encodings in a CSV table.

    Used for BBBC038 ``stage1_test`` with ``stage1_solution.csv`` (columns ``ImageId``, ``EncodedPixels``
    and optionally ``Height``, ``Width``); every row is one nucleus, numbered 1, 2, ... per image in row
    order; where runs overlap the earlier nucleus keeps the pixel.

    Args:
        raw_dir: folder holding the extracted images and the CSV file.
        out_dir: output folder.
        images: image path pattern with ``{id}`` (the id must equal the table's ``ImageId``).
        solution: path of the CSV table relative to ``raw_dir``.
        image_format: ``"tif"`` or ``"copy"``, see :func:`convert_per_object_masks`.

    Returns:
        the number of samples written.
    """
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {_IMAGE_FORMATS}, got {image_format!r}.")
    table_path = Path(raw_dir) / solution
    table = _read_rle_table(table_path)
    samples = _Samples(Path(raw_dir), images)
    written, skipped = 0, []
    for sample_id, _, image_path in samples.items:
        rows = table.get(sample_id.casefold())
        if not rows:
            skipped.append(sample_id)
            continue
        image = _Image(image_path, None)
        shape = image.shape
        labels = np.zeros(shape, dtype=np.uint32)
        for object_id, row in enumerate(rows, start=1):
            declared = (row.get("Height"), row.get("Width"))
            if all(declared) and tuple(int(value) for value in declared) != tuple(shape):
                raise ValueError(
                    f"{table_path}: {sample_id} is declared {declared[0]}x{declared[1]} but {image_path} is {shape}."
                )
            try:
                mask = decode_rle(row["EncodedPixels"], shape)
            except ValueError as exc:
                raise ValueError(f"{table_path}: {sample_id}: {exc}") from exc
            labels[mask & (labels == 0)] = object_id
        _write_sample(Path(out_dir), sample_id, image, labels, _resolve_spacing(None, image), image_format)
        written += 1
    _report_skipped(f"rows in {solution}", skipped)
    if not written:
        raise ValueError(f"{table_path}: no image matching {images!r} has run-length rows.")
    return written


def convert_paired_files(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    images: str,
    labels: str,
    label_type: str = "instance",
    connectivity: int = 1,
    markers: str | None = None,
    image_format: str = "tif",
    channel_reduce: str | int | None = None,
    flip_label_axes: Sequence[int] = (),
    crop_to_common_shape: bool = False,
    spacing: Sequence[float] | None = None,
) -> int:
    """Convert datasets with one label file per image, matched by id (2D or 3D).

    Args:
        raw_dir: folder holding the extracted dataset.
        out_dir: output folder (``images/``, ``labels/``, and ``centroids/`` with ``markers``).
        images: image path pattern with ``{id}``.
        labels: label path pattern with ``{id}``.
        label_type: ``"instance"`` (ids kept) or ``"binary"`` (foreground split into connected components).
        connectivity: neighbourhood of the connected components, 1 (faces) to the number of axes (corners).
        markers: optional pattern of centre-marker images (one blob per object): the centre of every blob
            is written to ``centroids/<id>.csv`` with the label it lies on.
        image_format: ``"tif"`` or ``"copy"``, see :func:`convert_per_object_masks`.
        channel_reduce: reduction of RGB(A) images, see :func:`convert_per_object_masks`.
        flip_label_axes: axes along which the label volume is reversed to align it with the image.
        crop_to_common_shape: crop image and labels to their common shape instead of refusing a mismatch.
        spacing: (z, y, x) or (y, x) in um; None uses the spacing read from the image.

    Returns:
        the number of samples written.
    """
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {_IMAGE_FORMATS}, got {image_format!r}.")
    if label_type not in ("instance", "binary"):
        raise ValueError(f"label_type must be 'instance' or 'binary', got {label_type!r}.")
    if crop_to_common_shape and image_format == "copy":
        raise ValueError("crop_to_common_shape needs image_format='tif' (a copied image cannot be cropped).")
    _check_channel_reduce(channel_reduce)
    samples = _Samples(Path(raw_dir), images)
    label_files = samples.companions(labels)
    marker_files = samples.companions(markers) if markers is not None else None
    written, skipped = 0, []
    for sample_id, key, image_path in samples.items:
        found = label_files(key)
        if not found:
            skipped.append(sample_id)
            continue
        if len(found) > 1:
            raise ValueError(f"{raw_dir}: several label files match sample {sample_id!r}: {[str(p) for p in found]}.")
        image = _Image(image_path, channel_reduce)
        label_image, _ = read_labels(found[0])
        if flip_label_axes:
            label_image = np.flip(label_image, axis=tuple(flip_label_axes))
        if crop_to_common_shape:
            if len(image.shape) != label_image.ndim:
                raise ValueError(
                    f"{found[0]}: labels have {label_image.ndim} axes, the image {image_path} has {len(image.shape)}."
                )
            common = tuple(slice(0, min(a, b)) for a, b in zip(image.shape, label_image.shape, strict=True))
            image.array, label_image = image.array[common], label_image[common]
        if label_image.shape != image.shape:
            raise ValueError(
                f"{found[0]}: label shape {label_image.shape} differs from the image {image_path} shape {image.shape}."
            )
        if label_type == "binary":
            label_image = _connected_components(label_image > 0, connectivity)
        chosen = _resolve_spacing(spacing, image)
        _write_sample(Path(out_dir), sample_id, image, label_image, chosen, image_format)
        marker_paths = marker_files(key) if marker_files is not None else []
        if marker_paths:
            marker_image = _read_mask(marker_paths[0])
            if marker_image.shape != image.shape:
                raise ValueError(
                    f"{marker_paths[0]}: marker shape {marker_image.shape} differs from the image shape {image.shape}."
                )
            _write_centroids(Path(out_dir) / CENTROIDS_DIR / f"{sample_id}.csv", marker_image, label_image, chosen)
        written += 1
    _report_skipped("labels", skipped)
    if not written:
        raise ValueError(f"{raw_dir}: no image matching {images!r} has labels matching {labels!r}.")
    return written


_TWO_CHANNEL_NAMES = ("nucleus", "cell")


def _one_channel_2d(path: Path, channel_reduce: str | int | None, what: str) -> _Image:
    """A 2D single-channel source image (colour reduced by ``channel_reduce``), or a ValueError naming the file."""
    image = _Image(path, channel_reduce)
    if image.rgb or len(image.shape) != 2:
        kind = f"a colour image of shape {image.array.shape}" if image.rgb else f"an image of shape {image.shape}"
        raise ValueError(
            f"{path}: expected the {what} channel as a 2D single-channel image, got {kind}"
            + (" (set channel_reduce to 'max' or a channel index)." if image.rgb else ".")
        )
    return image


def convert_two_channel_cells(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    cell_images: str,
    nucleus_images: str,
    cell_masks: str,
    nucleus_masks: str,
    channel_order: Sequence[str] = _TWO_CHANNEL_NAMES,
    channel_reduce: str | int | None = "max",
    mask_threshold: float = 0,
    fill_holes: bool = False,
    spacing: Sequence[float] | None = None,
    test_images: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> int:
    """Convert a cell dataset with a nucleus channel (seed 004's macrophages, BBBC020) for ``cells_fpf_2d``.

    The source holds, per field, one image of the cell (cytoplasm) stain and one of the nucleus stain,
    and one binary mask file per cell and per nucleus. Output, in the layout the ``cells_fpf_2d`` bundle
    trains on::

        images/<id>.tif    the two channels as a 2-plane stack, in ``channel_order`` (default plane 0 the
                           nucleus, plane 1 the cell stain: the bundle's ``channel_def``); no spacing (a
                           2-plane stack with a 2D spacing would read as colour)
        labels/<id>.tif    cell instance labels 1..N in sorted mask-file order (earlier masks win overlaps)
        nuclei/<id>.tif    nucleus instance labels, likewise
        datalist.json      training / validation / test split (:func:`cellbundles.data.build_datalist`
                           format; paths relative to ``out_dir``)

    Fields without cell masks or without nucleus masks are skipped and reported on stderr.

    Args:
        raw_dir: folder holding the extracted dataset.
        out_dir: output folder.
        cell_images: pattern of the cell-stain images with ``{id}``; it defines the samples.
        nucleus_images: pattern of the nucleus-stain images with ``{id}`` (exactly one per sample).
        cell_masks: pattern of the per-cell mask files with ``{id}`` and ``*``.
        nucleus_masks: pattern of the per-nucleus mask files with ``{id}`` and ``*``.
        channel_order: the planes written, a permutation of ``("nucleus", "cell")``.
        channel_reduce: for RGB(A) channel images (false-colour TIFFs): ``"max"`` over R, G, B, a channel
            index, or None to refuse colour images.
        mask_threshold: a mask pixel belongs to the object when its value is above this.
        fill_holes: fill holes of every mask (for datasets whose object files are closed outlines).
        spacing: (y, x) in um written to the label files; None uses the spacing of the cell image.
        test_images: optional pattern matched against the cell images' paths: matching samples form the
            datalist's ``test`` section (a published split); otherwise ``test_fraction`` is drawn.
        val_fraction: share of the (non-test) samples drawn for ``validation``.
        test_fraction: share of the samples drawn for ``test`` when ``test_images`` is not given.
        seed: seed of the random split.

    Returns:
        the number of samples written.

    Raises:
        ValueError: naming the file: a channel image that is not 2D single-channel, a nucleus image or a
            mask whose shape differs from the cell image, a sample without or with several nucleus images,
            an unreadable file; or a pattern that matches nothing.
    """
    order = tuple(channel_order)
    if sorted(order) != sorted(_TWO_CHANNEL_NAMES):
        raise ValueError(f"channel_order must be a permutation of {_TWO_CHANNEL_NAMES}, got {channel_order!r}.")
    _check_channel_reduce(channel_reduce)
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    samples = _Samples(raw_dir, cell_images)
    nucleus_files = samples.companions(nucleus_images)
    cell_mask_files, nucleus_mask_files = samples.companions(cell_masks), samples.companions(nucleus_masks)
    test_pattern = _PathPattern(test_images) if test_images is not None else None
    written, test_ids, skipped = 0, set(), {"cell masks": [], "nucleus masks": []}
    for sample_id, key, cell_path in samples.items:
        cell_paths, nucleus_paths = cell_mask_files(key), nucleus_mask_files(key)
        if not cell_paths or not nucleus_paths:
            skipped["cell masks" if not cell_paths else "nucleus masks"].append(sample_id)
            continue
        found = nucleus_files(key)
        if len(found) != 1:
            problem = "no nucleus image matches" if not found else f"several nucleus images ({found}) match"
            raise ValueError(f"{cell_path}: {problem} the pattern {nucleus_images!r} for this cell image.")
        cell = _one_channel_2d(cell_path, channel_reduce, "cell")
        nucleus = _one_channel_2d(found[0], channel_reduce, "nucleus")
        if nucleus.shape != cell.shape:
            raise ValueError(
                f"{found[0]}: nucleus image shape {nucleus.shape} differs from the cell image {cell_path} "
                f"shape {cell.shape}."
            )
        cells = _instances_from_masks(cell_paths, cell.shape, cell_path, mask_threshold, fill_holes)
        nuclei = _instances_from_masks(nucleus_paths, cell.shape, found[0], mask_threshold, fill_holes)
        planes = {"nucleus": nucleus.array, "cell": cell.array}
        chosen = _resolve_spacing(spacing, cell)
        write_image(out_dir / IMAGES_DIR / f"{sample_id}.tif", np.stack([planes[name] for name in order]), rgb=False)
        write_image(out_dir / LABELS_DIR / f"{sample_id}.tif", _label_dtype(cells), spacing=chosen, rgb=False)
        write_image(out_dir / NUCLEI_DIR / f"{sample_id}.tif", _label_dtype(nuclei), spacing=chosen, rgb=False)
        if test_pattern is not None and test_pattern.regex.fullmatch(cell_path.relative_to(raw_dir).as_posix()):
            test_ids.add(sample_id)
        written += 1
    for kind, ids in skipped.items():
        _report_skipped(kind, ids)
    if not written:
        raise ValueError(f"{raw_dir}: no image matching {cell_images!r} has both cell and nucleus masks.")
    if test_pattern is not None and not test_ids:
        raise ValueError(f"{raw_dir}: no converted cell image matches the test pattern {test_images!r}.")
    datalist = build_datalist(
        out_dir, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, test_ids=test_ids or None
    )
    write_datalist(out_dir / "datalist.json", datalist)
    return written


CONVERTERS: dict[str, Callable[..., int]] = {
    "dsb2018": convert_dsb2018,
    "dsb2018_rle": convert_dsb2018_rle,
    "paired_files": convert_paired_files,
    "per_object_masks": convert_per_object_masks,
    "two_channel_cells": convert_two_channel_cells,
}


def check_converter_parameters(name: str, parameters: dict[str, Any]) -> None:
    """Check that ``name`` is a known converter that accepts ``parameters`` (path patterns are compiled).

    Raises:
        ValueError: unknown converter (the known ones are listed), a missing or unexpected parameter,
            or an invalid path pattern.
    """
    if name not in CONVERTERS:
        raise ValueError(f"unknown converter {name!r}; known converters: {', '.join(sorted(CONVERTERS))}.")
    try:
        inspect.signature(CONVERTERS[name]).bind("raw_dir", "out_dir", **parameters)
    except TypeError as exc:
        raise ValueError(f"converter {name!r}: {exc}.") from exc
    for key in _PATTERN_PARAMETERS:
        if parameters.get(key) is not None:
            _PathPattern(parameters[key])


def run_converter(name: str, raw_dir: str | os.PathLike, out_dir: str | os.PathLike, parameters: dict[str, Any]) -> int:
    """Run converter ``name`` on ``raw_dir`` writing into ``out_dir``; returns the number of samples written."""
    check_converter_parameters(name, parameters)
    return CONVERTERS[name](Path(raw_dir), Path(out_dir), **parameters)
