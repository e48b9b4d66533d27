from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellbundles.io import read_centroids_csv, write_centroids_csv

QCANET_CENTROIDS = (
    Path(__file__).resolve().parents[2] / "data/samples/qcanet_mouse_embryo_3d/centroids/8_cell_stage.csv"
)


def test_read_vendored_label_zyx_table():
    centroids = read_centroids_csv(QCANET_CENTROIDS)
    assert centroids.shape == (8, 3) and centroids.dtype == np.float64
    np.testing.assert_array_equal(centroids[0], [7.0, 54.0, 72.0])
    np.testing.assert_array_equal(centroids[-1], [38.0, 66.0, 74.0])


def test_round_trip_3d_with_spacing_and_extra_columns(tmp_path):
    points = np.array([[1.5, 2.25, 3.125], [0.1, 10.0, 1e-7]])
    path = tmp_path / "c.csv"
    write_centroids_csv(
        path,
        points,
        spacing=(2.0, 0.5, 0.25),
        extra_columns={"radius_um": np.array([0.5, 1.0]), "shape": np.array(["round", "elongated"])},
    )
    lines = path.read_text().splitlines()
    assert lines[0] == "id,z,y,x,z_um,y_um,x_um,radius_um,shape"
    assert lines[1].split(",")[:1] == ["1"] and lines[1].endswith(",round")
    assert [float(v) for v in lines[1].split(",")[4:7]] == [3.0, 1.125, 0.78125]
    np.testing.assert_array_equal(read_centroids_csv(path), points)


def test_round_trip_2d_and_empty(tmp_path):
    points = np.array([[4.0, 5.0], [6.5, 7.5]])
    write_centroids_csv(tmp_path / "p.csv", points, spacing=(0.3, 0.3))
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "id,y,x,y_um,x_um"
    np.testing.assert_array_equal(read_centroids_csv(tmp_path / "p.csv"), points)
    write_centroids_csv(tmp_path / "none.csv", np.zeros((0, 3)))
    assert read_centroids_csv(tmp_path / "none.csv").shape == (0, 3)


def test_reader_accepts_case_column_order_and_bom(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("\ufeffX, Y ,Z,ID\n3,2,1,7\n\n6,5,4,8\n", encoding="utf-8")
    np.testing.assert_array_equal(read_centroids_csv(path), [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ("id,z,y\n1,2,3\n", "lacks"), ("z,y,x\n1,a,3\n", "line 2"), ("y,x\n1,nan\n", "finite")],
)
def test_reader_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_centroids_csv(path)
    assert str(path) in str(error.value)


def test_missing_file_and_bad_writer_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_centroids_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="shape"):
        write_centroids_csv(tmp_path / "a.csv", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="clashes"):
        write_centroids_csv(tmp_path / "a.csv", np.zeros((1, 3)), extra_columns={"z": np.zeros(1)})
    with pytest.raises(ValueError, match="expected \\(1,\\)"):
        write_centroids_csv(tmp_path / "a.csv", np.zeros((1, 3)), extra_columns={"r": np.zeros(2)})
    assert not (tmp_path / "a.csv").exists()
