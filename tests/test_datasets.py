"""Datasets: every loader gives the same content-hash id for the same numbers, and every
malformed input raises DatasetError naming the problem."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neatai.datasets import (
    Dataset, DatasetError, DatasetNotFound, DatasetStore, DatasetTooLarge, decode_upload, from_records, load_path,
    parse_csv, xor,
)
from neatai.v1 import dataset_pb2

XOR_CSV = "a,b,xor\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


def header(fmt, **kw):
    return dataset_pb2.DatasetHeader(format=getattr(dataset_pb2, f"DATASET_FORMAT_{fmt}"), **kw)


def test_xor_builtin_shape_and_records_layout():
    ds = xor()
    assert ds.shape == (4, 2, 1)
    assert ds.X.dtype == np.float32 and ds.X.flags.c_contiguous and ds.Y.flags.c_contiguous
    assert ds.nbytes == 4 * 3 * 4
    rows = np.frombuffer(ds.to_records_bytes(), dtype="<f4").reshape(4, 3)
    np.testing.assert_array_equal(rows, [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]])
    assert ds.id.startswith("sha256:") and len(ds.id) == 7 + 64


def test_id_depends_on_numbers_and_shape_not_names():
    a = xor()
    assert Dataset(a.X, a.Y, name="other").id == a.id
    assert Dataset(a.X + 1, a.Y).id != a.id
    # Same bytes, different split between inputs and outputs: a different dataset.
    assert from_records(a.to_records_bytes(), 1, 2).id != a.id


def test_every_format_gives_the_same_id(tmp_path):
    ds = xor()
    (tmp_path / "x.csv").write_text(XOR_CSV)
    pq.write_table(pa.table({"a": [0.0, 0, 1, 1], "b": [0, 1, 0, 1], "xor": [0, 1, 1, 0]}), tmp_path / "x.parquet")
    np.savez(tmp_path / "x.npz", X=ds.X, Y=ds.Y)
    (tmp_path / "bins").mkdir()
    raw = ds.to_records_bytes()
    # 10.bin sorts after 2.bin numerically (and before it as text).
    (tmp_path / "bins" / "0.bin").write_bytes(raw[:12])
    (tmp_path / "bins" / "2.bin").write_bytes(raw[12:36])
    (tmp_path / "bins" / "10.bin").write_bytes(raw[36:])
    loaded = [
        load_path(tmp_path / "x.csv", targets=["xor"]),
        load_path(tmp_path / "x.parquet", targets=["xor"]),
        load_path(tmp_path / "x.npz"),
        load_path(tmp_path / "bins", inputs=2, outputs=1),
        load_path("xor"),
        decode_upload(header("FLOAT32_RECORDS", inputs=2, outputs=1), raw),
        decode_upload(header("CSV", target_names=["xor"]), XOR_CSV.encode()),
        decode_upload(header("PARQUET", target_names=["xor"]), (tmp_path / "x.parquet").read_bytes()),
        decode_upload(header("NPZ"), (tmp_path / "x.npz").read_bytes()),
    ]
    assert {d.id for d in loaded} == {ds.id}
    assert loaded[0].feature_names == ("a", "b") and loaded[0].target_names == ("xor",)
    assert loaded[1].feature_names == ("a", "b")


def test_csv_targets_pick_any_columns_and_default_to_the_last():
    ds = parse_csv("y,a,b\n1,2,3\n4,5,6\n", targets=["y"])
    assert ds.feature_names == ("a", "b") and ds.target_names == ("y",)
    np.testing.assert_array_equal(ds.X, [[2, 3], [5, 6]])
    assert parse_csv("a,b,y\n1,2,3\n").target_names == ("y",)
    assert parse_csv("a,y1,y2\n1,2,3\n", outputs=2).target_names == ("y1", "y2")


@pytest.mark.parametrize("text, kwargs, message", [
    ("a,b,y\n1,2,3\n1,2\n", {}, "line 3: ragged row with 2 fields"),
    ("a,b,y\n1,x,3\n", {}, "column 'b': not a number: 'x'"),
    ("a,b,y\n1,nan,3\n", {}, "non-finite value nan"),
    ("a,b,y\n1,inf,3\n", {}, "non-finite value inf"),
    ("a,b,y\n1,1e39,3\n", {}, "overflows float32"),
    ("a,b,y\n1,2,3\n", {"targets": ["z"]}, "unknown target column 'z'"),
    ("a,b,y\n", {}, "empty dataset"),
    ("", {}, "empty dataset"),
    ("a,a,y\n1,2,3\n", {}, "duplicate column 'a'"),
    ("y\n1\n", {}, "cannot hold 1 targets"),
    ("a,y\n1,2\n", {"targets": ["a", "y"]}, "no input columns"),
    ("a,b,y\n1,2,3\n", {"inputs": 3}, "2 input columns but inputs=3"),
])
def test_csv_errors(text, kwargs, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_csv(text, **kwargs)


def test_parquet_errors(tmp_path):
    pq.write_table(pa.table({"a": ["x", "y"], "y": [1.0, 2.0]}), tmp_path / "s.parquet")
    with pytest.raises(DatasetError, match="column 'a' has non-numeric type string"):
        load_path(tmp_path / "s.parquet")
    pq.write_table(pa.table({"a": [1.0, None], "y": [1.0, 2.0]}), tmp_path / "n.parquet")
    with pytest.raises(DatasetError, match="column 'a' has 1 missing values"):
        load_path(tmp_path / "n.parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        decode_upload(header("PARQUET"), b"PAR1 not really")


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "m.npz", X=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="missing array 'Y'"):
        load_path(tmp_path / "m.npz")
    np.savez(tmp_path / "r.npz", X=np.zeros((3, 2)), Y=np.zeros((2, 1)))
    with pytest.raises(DatasetError, match="X has 3 records but Y has 2"):
        load_path(tmp_path / "r.npz")
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2, 2)), Y=np.zeros((2, 1)))
    with pytest.raises(DatasetError, match=r"X must be 2-D \[records, columns\], got shape \(2, 2, 2\)"):
        load_path(tmp_path / "d.npz")
    np.savez(tmp_path / "o.npz", X=np.array([["a"]]), Y=np.zeros((1, 1)))
    with pytest.raises(DatasetError, match="X must be numeric"):
        load_path(tmp_path / "o.npz")
    np.savez(tmp_path / "e.npz", X=np.zeros((0, 2)), Y=np.zeros((0, 1)))
    with pytest.raises(DatasetError, match="empty dataset"):
        load_path(tmp_path / "e.npz")
    np.savez(tmp_path / "ok.npz", X=np.zeros((2, 2)), Y=np.zeros((2, 1)))
    with pytest.raises(DatasetError, match="wrong shape: 1 output columns but outputs=2"):
        load_path(tmp_path / "ok.npz", outputs=2)
    with pytest.raises(DatasetError, match="not a readable .npz archive"):
        decode_upload(header("NPZ"), b"garbage")


def test_bin_errors(tmp_path):
    (tmp_path / "0.bin").write_bytes(np.zeros(7, dtype="<f4").tobytes())
    with pytest.raises(DatasetError, match=r"0\.bin: Trailing 4 bytes \(incomplete record\)"):
        load_path(tmp_path, inputs=2, outputs=1)
    with pytest.raises(DatasetError, match="needs the inputs and outputs counts"):
        load_path(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no N.bin files"):
        load_path(tmp_path / "empty", inputs=2, outputs=1)
    with pytest.raises(DatasetError, match="Trailing 2 bytes"):
        decode_upload(header("FLOAT32_RECORDS", inputs=1, outputs=1), b"\0" * 10)
    with pytest.raises(DatasetError, match="need header.inputs and header.outputs"):
        decode_upload(header("FLOAT32_RECORDS"), b"\0" * 8)
    with pytest.raises(DatasetError, match="empty dataset"):
        decode_upload(header("FLOAT32_RECORDS", inputs=1, outputs=1), b"")
    nan = np.array([0, np.nan], dtype="<f4").tobytes()
    with pytest.raises(DatasetError, match="non-finite value nan in Y at record 0, column 0"):
        decode_upload(header("FLOAT32_RECORDS", inputs=1, outputs=1), nan)


def test_path_and_format_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_path(tmp_path / "missing.csv")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DatasetError, match="unknown dataset format '.txt'"):
        load_path(tmp_path / "d.txt")
    with pytest.raises(DatasetError, match="header.format must be"):
        decode_upload(header("UNSPECIFIED"), b"x")
    with pytest.raises(DatasetError, match="not UTF-8"):
        decode_upload(header("CSV"), b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DatasetError, match="3 feature names for 2 columns"):
        Dataset(np.zeros((1, 2)), np.zeros((1, 1)), feature_names=("a", "b", "c"))


def test_store_registers_once_evicts_by_bytes_and_reports_missing():
    store = DatasetStore(max_bytes=2 * xor().nbytes)
    a, b, c = xor(), Dataset(xor().X, 1 - xor().Y), Dataset(xor().X * 2, xor().Y)
    assert store.register(a) == (a.id, False)
    assert store.register(Dataset(a.X, a.Y)) == (a.id, True)
    store.register(b)
    store.register(c)  # evicts the least recently used (a)
    assert a.id not in store and store.get(c.id) is c
    with pytest.raises(DatasetNotFound) as info:
        store.get(a.id)
    assert isinstance(info.value, KeyError) and a.id in str(info.value)
    stats = store.stats()
    assert stats.name == "datasets" and stats.evictions == 1 and stats.current_size == 2 * a.nbytes
    with pytest.raises(DatasetTooLarge, match="exceeds the store capacity"):
        DatasetStore(max_bytes=10).register(a)
