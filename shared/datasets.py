"""Datasets: dense float32 inputs/targets, their content-hash ids, the loaders for every format
neatai accepts (CSV, Parquet, NumPy .npz, NEAT-AI .bin directories, DatasetService uploads) and
the byte-bounded store services keep them in.

A dataset's id is `sha256:<hex>` over its shape and its little-endian float32 records
`[inputs…, outputs…]`, so the same numbers give the same id whatever format carried them.
Every malformed input raises `DatasetError` with a message that names the problem.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .lru import CacheStats, LRUCache

MiB = 1 << 20
_LE_F32 = np.dtype("<f4")


class DatasetError(ValueError):
    """A dataset could not be read or is malformed; the message says why."""


class DatasetNotFound(KeyError):
    """No dataset with this id is registered (it may have been evicted): upload it again."""

    def __init__(self, dataset_id: str):
        super().__init__(dataset_id)
        self.dataset_id = dataset_id

    def __str__(self) -> str:
        return f"dataset {self.dataset_id} not registered"


class DatasetTooLarge(DatasetError):
    """The dataset exceeds a configured size limit."""


@dataclass(frozen=True)
class DatasetLimits:
    # Raw upload bytes accepted by RegisterDataset (before decoding).
    max_upload_bytes: int = 256 * MiB
    max_inputs: int = 1_000_000
    max_outputs: int = 1_000_000
    max_records: int = 50_000_000


DEFAULT_DATASET_LIMITS = DatasetLimits()


@dataclass(frozen=True, eq=False)
class Dataset:
    X: np.ndarray  # float32 [records, inputs], C-contiguous
    Y: np.ndarray  # float32 [records, outputs], C-contiguous
    feature_names: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()
    name: str = ""
    id: str = field(init=False)

    def __post_init__(self):
        X, Y = _matrix(self.X, "X"), _matrix(self.Y, "Y")
        if X.shape[0] != Y.shape[0]:
            raise DatasetError(f"X has {X.shape[0]} records but Y has {Y.shape[0]}")
        if X.shape[0] == 0:
            raise DatasetError("empty dataset: no records")
        if X.shape[1] == 0:
            raise DatasetError("no input columns")
        if Y.shape[1] == 0:
            raise DatasetError("no output (target) columns")
        for label, arr in (("X", X), ("Y", Y)):
            bad = ~np.isfinite(arr)
            if bad.any():
                row, col = (int(v) for v in np.argwhere(bad)[0])
                raise DatasetError(f"non-finite value {arr[row, col]} in {label} at record {row}, column {col}")
        for label, names, width in (("feature", self.feature_names, X.shape[1]), ("target", self.target_names, Y.shape[1])):
            if names and len(names) != width:
                raise DatasetError(f"{len(names)} {label} names for {width} columns")
        X.flags.writeable = False
        Y.flags.writeable = False
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        object.__setattr__(self, "target_names", tuple(self.target_names))
        digest = hashlib.sha256(_shape_header(*self.shape))
        digest.update(self.to_records_bytes())
        object.__setattr__(self, "id", "sha256:" + digest.hexdigest())

    @property
    def records(self) -> int:
        return self.X.shape[0]

    @property
    def inputs(self) -> int:
        return self.X.shape[1]

    @property
    def outputs(self) -> int:
        return self.Y.shape[1]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.records, self.inputs, self.outputs

    @property
    def nbytes(self) -> int:
        return self.X.nbytes + self.Y.nbytes

    def to_records_bytes(self) -> bytes:
        """Little-endian float32 records `[inputs…, outputs…]` (the NEAT-AI .bin layout)."""
        return np.hstack([self.X, self.Y]).astype(_LE_F32, copy=False).tobytes()

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, records={self.records}, inputs={self.inputs}, outputs={self.outputs}, id={self.id[:19]}…)"


def _shape_header(records: int, inputs: int, outputs: int) -> bytes:
    return f"neatai.dataset.v1 records={records} inputs={inputs} outputs={outputs}\n".encode()


def _matrix(a, label: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged nested lists and the like
        raise DatasetError(f"{label} is not a rectangular array: {e}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DatasetError(f"{label} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DatasetError(f"{label} must be 2-D [records, columns], got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def xor() -> Dataset:
    """The four XOR cases: 2 inputs, 1 output."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return Dataset(X, Y, ("a", "b"), ("xor",), "xor")


# ---------------------------------------------------------------------------------------------
# Records (.bin)

def from_records(data: bytes | memoryview, inputs: int, outputs: int, *, name: str = "", where: str = "data",
                 feature_names: Sequence[str] = (), target_names: Sequence[str] = ()) -> Dataset:
    """Decode little-endian float32 records `[inputs…, outputs…]`."""
    if inputs is None or outputs is None or inputs < 1 or outputs < 1:
        raise DatasetError(f"float32 records need inputs >= 1 and outputs >= 1, got inputs={inputs}, outputs={outputs}")
    width = inputs + outputs
    record_bytes = 4 * width
    if len(data) == 0:
        raise DatasetError(f"empty dataset: {where} holds no records")
    trailing = len(data) % record_bytes
    if trailing:
        raise DatasetError(
            f"{where}: Trailing {trailing} bytes (incomplete record): {len(data)} bytes is not a multiple of the "
            f"{record_bytes}-byte record ({inputs} inputs + {outputs} outputs, float32)")
    rows = np.frombuffer(data, dtype=_LE_F32).reshape(-1, width)
    return Dataset(rows[:, :inputs], rows[:, inputs:], tuple(feature_names), tuple(target_names), name)


def _bin_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.is_file() and re.fullmatch(r"\d+\.bin", p.name)]
    if not files:
        raise DatasetError(f"{directory}: no N.bin files (NEAT-AI record directory expected)")
    return sorted(files, key=lambda p: int(p.stem))


def load_bin_dir(directory: str | Path, inputs: int, outputs: int, name: str | None = None) -> Dataset:
    """A NEAT-AI directory of `0.bin, 1.bin, …` (read in numeric order) holding float32 records."""
    directory = Path(directory)
    if inputs is None or outputs is None:
        raise DatasetError(f"{directory}: a .bin directory needs the inputs and outputs counts")
    chunks = []
    for path in _bin_files(directory):
        data = path.read_bytes()
        if len(data) % (4 * (inputs + outputs)):
            from_records(data, inputs, outputs, where=str(path))  # raises the precise error
        chunks.append(data)
    return from_records(b"".join(chunks), inputs, outputs, name=name or directory.name, where=str(directory))


# ---------------------------------------------------------------------------------------------
# Tables (CSV, Parquet)

def _split_columns(columns: list[str], targets: Sequence[str] | None, outputs: int | None, where: str) -> list[int]:
    """Indices of the target columns: named ones, else the last `outputs` (default 1) columns."""
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DatasetError(f"{where}: duplicate column {dup!r}")
    if targets:
        repeated = [t for i, t in enumerate(targets) if t in targets[:i]]
        if repeated:
            raise DatasetError(f"{where}: target column {repeated[0]!r} is named twice")
        missing = [t for t in targets if t not in columns]
        if missing:
            raise DatasetError(f"{where}: unknown target column {missing[0]!r}; columns are {columns}")
        index = [columns.index(t) for t in targets]
    else:
        k = outputs or 1
        if k >= len(columns):
            raise DatasetError(f"{where}: {len(columns)} columns cannot hold {k} targets and at least one input")
        index = list(range(len(columns) - k, len(columns)))
    if len(index) >= len(columns):
        raise DatasetError(f"{where}: every column is a target; no input columns left")
    return index


def _table(columns: list[str], values: np.ndarray, targets, inputs, outputs, name, where) -> Dataset:
    tix = _split_columns(columns, targets, outputs, where)
    fix = [i for i in range(len(columns)) if i not in tix]
    if outputs and len(tix) != outputs:
        raise DatasetError(f"{where}: {len(tix)} target columns but outputs={outputs}")
    if inputs and len(fix) != inputs:
        raise DatasetError(f"{where}: {len(fix)} input columns but inputs={inputs}")
    if values.shape[0] == 0:
        raise DatasetError(f"empty dataset: {where} has a header but no records")
    return Dataset(values[:, fix], values[:, tix], tuple(columns[i] for i in fix), tuple(columns[i] for i in tix), name)


def parse_csv(text: str, targets: Sequence[str] | None = None, inputs: int | None = None,
              outputs: int | None = None, name: str = "", where: str = "CSV") -> Dataset:
    """UTF-8 CSV with a header row; `targets` names the target columns (default: the last one)."""
    columns, values = csv_table(text, where)
    return _table(columns, values, targets, inputs, outputs, name, where)


def csv_table(text: str, where: str = "CSV") -> tuple[list[str], np.ndarray]:
    """The header and float32 values of every column of a UTF-8 CSV."""
    rows = csv.reader(io.StringIO(text))
    line = 1
    try:
        header = next(rows, None)
        if not header or not any(h.strip() for h in header):
            raise DatasetError(f"empty dataset: {where} has no header row")
        columns = [h.strip() for h in header]
        values = []
        for line, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue  # blank lines
            if len(row) != len(columns):
                raise DatasetError(f"{where} line {line}: ragged row with {len(row)} fields, "
                                   f"header has {len(columns)}")
            try:
                values.append([float(c) for c in row])
            except ValueError:
                col = next(i for i, c in enumerate(row) if not _is_float(c))
                raise DatasetError(f"{where} line {line}, column {columns[col]!r}: "
                                   f"not a number: {row[col]!r}") from None
    except csv.Error as e:  # e.g. a NUL byte, or a lone carriage return inside a field
        raise DatasetError(f"{where} line {rows.line_num or line}: not CSV: {e}") from None
    arr = np.array(values, dtype=np.float64).reshape(-1, len(columns))
    _check_finite(arr, columns, where, first_line=2)
    return columns, arr.astype(np.float32)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _check_finite(arr: np.ndarray, columns: list[str], where: str, first_line: int | None = None) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        at = f"line {row + first_line}" if first_line is not None else f"record {row}"
        raise DatasetError(f"{where} {at}, column {columns[col]!r}: non-finite value {arr[row, col]}")
    big = np.abs(arr) > np.finfo(np.float32).max
    if big.any():
        row, col = (int(v) for v in np.argwhere(big)[0])
        raise DatasetError(f"{where}: value {arr[row, col]} in column {columns[col]!r} overflows float32")


def load_csv(path: str | Path, targets=None, inputs=None, outputs=None) -> Dataset:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_csv(text, targets, inputs, outputs, name=path.stem, where=str(path))


def parse_parquet(data: bytes | str | Path, targets=None, inputs=None, outputs=None, name: str = "",
                  where: str = "Parquet") -> Dataset:
    columns, values = parquet_table(data, where)
    return _table(columns, values, targets, inputs, outputs, name, where)


def parquet_table(data: bytes | str | Path, where: str = "Parquet") -> tuple[list[str], np.ndarray]:
    """The column names and float32 values of every (numeric) column of a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data) if isinstance(data, (bytes, bytearray, memoryview)) else str(data))
        columns = list(table.column_names)
    except (pa.ArrowException, OSError, ValueError) as e:  # ValueError: e.g. names or metadata not UTF-8
        raise DatasetError(f"{where}: not a readable Parquet file: {e}") from None
    if not columns:
        raise DatasetError(f"empty dataset: {where} has no columns")
    arrays = []
    for name_, col in zip(columns, table.columns):
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
            raise DatasetError(f"{where}: column {name_!r} has non-numeric type {col.type}")
        if col.null_count:
            raise DatasetError(f"{where}: column {name_!r} has {col.null_count} missing values")
        arrays.append(col.to_numpy().astype(np.float64))
    arr = np.column_stack(arrays) if table.num_rows else np.zeros((0, len(columns)))
    _check_finite(arr, columns, where)
    return columns, arr.astype(np.float32)


def load_parquet(path: str | Path, targets=None, inputs=None, outputs=None) -> Dataset:
    path = Path(path)
    return parse_parquet(path, targets, inputs, outputs, name=path.stem, where=str(path))


# ---------------------------------------------------------------------------------------------
# NumPy .npz

# An .npz member's header declares its array's shape, and NumPy allocates that much before it
# reads a byte: a few hundred damaged bytes could ask for terabytes. Members are checked first.
MAX_NPZ_ARRAY_BYTES = 4 << 30


def parse_npz(data: bytes | str | Path, inputs=None, outputs=None, feature_names=(), target_names=(),
              name: str = "", where: str = "npz") -> Dataset:
    import zipfile
    from tokenize import TokenError

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if isinstance(source, io.BytesIO) and not bytes(data[:4]).startswith(b"PK"):
        raise DatasetError(f"{where}: not a readable .npz archive (no zip signature)")
    try:
        with zipfile.ZipFile(source) as archive:
            for key in ("X", "Y"):
                if f"{key}.npy" in archive.namelist():
                    _check_npy_member(archive, f"{key}.npy", where)
        if isinstance(source, io.BytesIO):
            source.seek(0)
        with np.load(source, allow_pickle=False) as npz:
            missing = [k for k in ("X", "Y") if k not in npz.files]
            if missing:
                raise DatasetError(f"{where}: missing array {missing[0]!r} (expected X and Y, found {npz.files})")
            X, Y = npz["X"], npz["Y"]
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, NotImplementedError) as e:
        # RuntimeError: an encrypted member; NotImplementedError: a compression zipfile lacks.
        raise DatasetError(f"{where}: not a readable .npz archive: {e}") from None
    except (ValueError, SyntaxError, TokenError) as e:  # a damaged array header; object arrays (pickle)
        raise DatasetError(f"{where}: unsupported array: {e}") from None
    ds = Dataset(X, Y, tuple(feature_names), tuple(target_names), name)
    _check_counts(ds, inputs, outputs, where)
    return ds


def _check_npy_member(archive, member: str, where: str) -> None:
    """The array `member` declares fits in what the member holds, and in MAX_NPZ_ARRAY_BYTES."""
    from numpy.lib import format as npy

    info = archive.getinfo(member)
    with archive.open(info) as f:
        version = npy.read_magic(f)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read_header(f)
    declared = math.prod(shape) * dtype.itemsize
    if declared > min(info.file_size, MAX_NPZ_ARRAY_BYTES):
        raise DatasetError(f"{where}: {member} declares a {'x'.join(map(str, shape))} {dtype} array "
                           f"({declared} bytes) but holds {info.file_size} bytes")


def _check_counts(ds: Dataset, inputs, outputs, where: str) -> None:
    if inputs and ds.inputs != inputs:
        raise DatasetError(f"{where}: wrong shape: {ds.inputs} input columns but inputs={inputs}")
    if outputs and ds.outputs != outputs:
        raise DatasetError(f"{where}: wrong shape: {ds.outputs} output columns but outputs={outputs}")


def load_npz(path: str | Path, inputs=None, outputs=None) -> Dataset:
    path = Path(path)
    return parse_npz(path, inputs, outputs, name=path.stem, where=str(path))


# ---------------------------------------------------------------------------------------------
# Dispatch

def load_path(path: str | Path, targets: Sequence[str] | None = None, inputs: int | None = None,
              outputs: int | None = None) -> Dataset:
    """Load a dataset file or NEAT-AI .bin directory by its suffix; "xor" names the built-in."""
    p = Path(path)
    if str(path) == "xor" and not p.exists():
        return xor()
    if not p.exists():
        raise DatasetError(f"{p}: no such file or directory")
    if p.is_dir():
        return load_bin_dir(p, inputs, outputs)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return load_csv(p, targets, inputs, outputs)
    if suffix in (".parquet", ".pq"):
        return load_parquet(p, targets, inputs, outputs)
    if suffix == ".npz":
        return load_npz(p, inputs, outputs)
    if suffix == ".bin":
        ds = from_records(p.read_bytes(), inputs, outputs, name=p.stem, where=str(p))
        return ds
    raise DatasetError(f"{p}: unknown dataset format {suffix or '(no suffix)'!r}; use .csv, .parquet, .npz, or a directory of N.bin files")


def load_columns(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(column names, float32 values) of every column of a CSV or Parquet file, or ([], X) of an
    .npz: records to run a creature on, whose inputs are the creature's to pick, not the file's."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        try:
            return csv_table(p.read_text(encoding="utf-8"), str(p))
        except UnicodeDecodeError as e:
            raise DatasetError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if suffix in (".parquet", ".pq"):
        return parquet_table(p, str(p))
    if suffix == ".npz":
        import zipfile

        try:
            with np.load(p, allow_pickle=False) as npz:
                if "X" not in npz.files:
                    raise DatasetError(f"{p}: missing array 'X' (found {npz.files})")
                X = npz["X"]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise DatasetError(f"{p}: not a readable .npz archive: {e}") from None
        if X.ndim != 2 or X.shape[0] == 0:
            raise DatasetError(f"{p}: X must be a non-empty 2-D array, got shape {X.shape}")
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise DatasetError(f"{p}: X is not numeric ({X.dtype})") from None
        _check_finite(X, [f"input-{i}" for i in range(X.shape[1])], str(p))
        return [], X.astype(np.float32)
    raise DatasetError(f"{p}: unknown format {suffix or '(no suffix)'!r}; use .csv, .parquet or .npz")


def decode_upload(header, data: bytes) -> Dataset:
    """Decode a DatasetService upload: a `neatai.v1.DatasetHeader` and the concatenated chunks."""
    from .v1 import dataset_pb2

    F = dataset_pb2
    where = f"upload ({F.DatasetFormat.Name(header.format) if header.format in F.DatasetFormat.values() else header.format})"
    inputs, outputs = header.inputs or None, header.outputs or None
    if header.inputs < 0 or header.outputs < 0:
        raise DatasetError(f"inputs and outputs must not be negative, got {header.inputs}, {header.outputs}")
    fmt = header.format
    if fmt == F.DATASET_FORMAT_FLOAT32_RECORDS:
        if not inputs or not outputs:
            raise DatasetError("FLOAT32_RECORDS uploads need header.inputs and header.outputs")
        ds = from_records(data, inputs, outputs, name=header.name, where=where,
                          feature_names=header.feature_names, target_names=header.target_names)
        return ds
    if fmt == F.DATASET_FORMAT_CSV:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DatasetError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        ds = parse_csv(text, list(header.target_names) or None, inputs, outputs, header.name, where)
    elif fmt == F.DATASET_FORMAT_PARQUET:
        ds = parse_parquet(bytes(data), list(header.target_names) or None, inputs, outputs, header.name, where)
    elif fmt == F.DATASET_FORMAT_NPZ:
        ds = parse_npz(bytes(data), inputs, outputs, header.feature_names, header.target_names, header.name, where)
    else:
        raise DatasetError(f"header.format must be FLOAT32_RECORDS, CSV, PARQUET or NPZ, got {fmt}")
    return ds


# ---------------------------------------------------------------------------------------------
# Store

class DatasetStore:
    """Registered datasets by id, least recently used evicted beyond `max_bytes`."""

    def __init__(self, max_bytes: int = 1024 * MiB):
        self.cache: LRUCache[str, Dataset] = LRUCache("datasets", max_bytes, sizeof=lambda d: d.nbytes)

    def register(self, dataset: Dataset) -> tuple[str, bool]:
        """Store `dataset`; returns its id and whether it was already present."""
        if dataset.nbytes > self.cache.max_size:
            raise DatasetTooLarge(
                f"dataset of {dataset.nbytes} bytes exceeds the store capacity of {self.cache.max_size} bytes")
        if self.cache.peek(dataset.id) is not None:
            self.cache.get(dataset.id)  # refresh recency
            return dataset.id, True
        self.cache.put(dataset.id, dataset)
        return dataset.id, False

    def get(self, dataset_id: str) -> Dataset:
        ds = self.cache.get(dataset_id)
        if ds is None:
            raise DatasetNotFound(dataset_id)
        return ds

    def __contains__(self, dataset_id: str) -> bool:
        return dataset_id in self.cache

    def stats(self) -> CacheStats:
        return self.cache.stats()


def iter_chunks(data: bytes, chunk_bytes: int) -> Iterable[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), chunk_bytes):
        yield bytes(view[start:start + chunk_bytes])
