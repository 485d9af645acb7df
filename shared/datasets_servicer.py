"""DatasetService over gRPC, shared by every service that keeps datasets (evaluator, evolver),
and the client helper that uploads one.

`RegisterDataset` is a client stream: a header, then data chunks. An upload over the size limit
answers RESOURCE_EXHAUSTED as soon as the limit is crossed; a malformed one INVALID_ARGUMENT
with a BadRequest field violation naming the part at fault.
"""
from __future__ import annotations

from typing import Iterator, Protocol

import grpc

from .creature import Problem
from .datasets import (
    DEFAULT_DATASET_LIMITS, MiB, Dataset, DatasetError, DatasetLimits, DatasetTooLarge, decode_upload, iter_chunks,
)
from .errors import abort_exhausted, abort_invalid
from .v1 import dataset_pb2, dataset_pb2_grpc


class Registry(Protocol):
    def register(self, dataset: Dataset) -> tuple[str, bool]: ...


def response_for(dataset: Dataset, already_present: bool) -> dataset_pb2.RegisterDatasetResponse:
    return dataset_pb2.RegisterDatasetResponse(
        dataset_id=dataset.id,
        shape=dataset_pb2.DatasetShape(records=dataset.records, inputs=dataset.inputs, outputs=dataset.outputs),
        feature_names=dataset.feature_names,
        target_names=dataset.target_names,
        already_present=already_present,
    )


class DatasetServicer(dataset_pb2_grpc.DatasetServiceServicer):
    """Decodes uploads with `datasets.decode_upload` and stores them in `store`."""

    def __init__(self, store: Registry, limits: DatasetLimits = DEFAULT_DATASET_LIMITS):
        self.store = store
        self.limits = limits

    def RegisterDataset(self, request_iterator: Iterator[dataset_pb2.RegisterDatasetRequest], context):
        header = None
        parts: list[bytes] = []
        size = 0
        for i, message in enumerate(request_iterator):
            kind = message.WhichOneof("part")
            if i == 0:
                if kind != "header":
                    abort_invalid(context, "malformed upload", [Problem("header", "the first message must carry the header")])
                header = message.header
                continue
            if kind != "chunk":
                abort_invalid(context, "malformed upload", [Problem(f"messages[{i}]", f"expected a data chunk, got {kind or 'nothing'}")])
            size += len(message.chunk)
            if size > self.limits.max_upload_bytes:
                abort_exhausted(context, "max_upload_bytes",
                                f"dataset upload exceeds the limit of {self.limits.max_upload_bytes} bytes "
                                "(max_upload_bytes; --max-upload-mb)")
            parts.append(message.chunk)
        if header is None:
            abort_invalid(context, "malformed upload", [Problem("header", "empty stream: no header")])
        problems = [Problem(f"header.{name}", f"{value} exceeds the limit of {limit}")
                    for name, value, limit in (("inputs", header.inputs, self.limits.max_inputs),
                                               ("outputs", header.outputs, self.limits.max_outputs)) if value > limit]
        if problems:
            abort_invalid(context, "malformed upload", problems)
        try:
            dataset = decode_upload(header, b"".join(parts))
            if dataset.records > self.limits.max_records:
                abort_exhausted(context, "max_records", f"the dataset has {dataset.records} records, over the limit "
                                                        f"of {self.limits.max_records} (max_records; --max-records)")
            dataset_id, present = self.store.register(dataset)
        except DatasetTooLarge as e:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except DatasetError as e:
            abort_invalid(context, "malformed dataset", [Problem("chunk", str(e))])
        return response_for(dataset, present)


def upload_requests(dataset: Dataset, chunk_bytes: int = MiB) -> Iterator[dataset_pb2.RegisterDatasetRequest]:
    header = dataset_pb2.DatasetHeader(
        format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=dataset.inputs, outputs=dataset.outputs,
        feature_names=dataset.feature_names, target_names=dataset.target_names, name=dataset.name)
    yield dataset_pb2.RegisterDatasetRequest(header=header)
    for chunk in iter_chunks(dataset.to_records_bytes(), chunk_bytes):
        yield dataset_pb2.RegisterDatasetRequest(chunk=chunk)


def upload_dataset(stub: dataset_pb2_grpc.DatasetServiceStub, dataset: Dataset, timeout: float = 60.0,
                   chunk_bytes: int = MiB) -> dataset_pb2.RegisterDatasetResponse:
    """Stream `dataset` as FLOAT32_RECORDS; raises grpc.RpcError on failure."""
    return stub.RegisterDataset(upload_requests(dataset, chunk_bytes), timeout=timeout)


def upload_raw(stub: dataset_pb2_grpc.DatasetServiceStub, header: dataset_pb2.DatasetHeader, data: bytes,
               timeout: float = 60.0, chunk_bytes: int = MiB) -> dataset_pb2.RegisterDatasetResponse:
    """Stream a file's bytes in any DatasetFormat (CSV, Parquet, npz, records)."""
    def requests():
        yield dataset_pb2.RegisterDatasetRequest(header=header)
        yield from (dataset_pb2.RegisterDatasetRequest(chunk=c) for c in iter_chunks(data, chunk_bytes))
    return stub.RegisterDataset(requests(), timeout=timeout)
