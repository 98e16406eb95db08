"""A loopback OTLP/HTTP receiver that decodes what it gets with the official opentelemetry-proto.

``with OtlpReceiver() as rx: …  rx.spans()``; each span and metric data point comes back as a plain
dict with its attributes decoded, so tests assert on what a collector would really have stored.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..transport import Reply, Request, ThreadedServer


def value_of(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs_of(kvs: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in kvs}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class OtlpReceiver:
    """``status``: what to answer (200, or an error to play a refusing collector). Runs on the
    project's loopback server (``inspector.transport.ThreadedServer``), as every test server does."""

    status: int = 200
    port: int = 0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server = ThreadedServer(self._serve, port=self.port)

    @property
    def url(self) -> str:
        return self.server.url

    async def _serve(self, request: Request, reply: Reply) -> None:
        if request.method != "POST":
            reply.whole(405, b"", [("allow", "POST")])
            return
        body = request.body
        encoding = request.header("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        with self._lock:
            self.requests.append(Received(request.target, dict(request.headers), body))
        if self.status != 200:
            reply.whole(self.status, b"", [])
            return
        answer = (ExportTraceServiceResponse() if request.path.endswith("/traces")
                  else ExportMetricsServiceResponse()).SerializeToString()
        reply.whole(200, answer, [("content-type", "application/x-protobuf")])

    def __enter__(self) -> OtlpReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    # -- what arrived, decoded ------------------------------------------------------------------------
    def _of(self, suffix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for r in self._of("/v1/traces"):
            req = ExportTraceServiceRequest.FromString(r.body)
            for rs in req.resource_spans:
                resource = attrs_of(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({
                            "name": s.name, "kind": s.kind, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(), "start_ns": s.start_time_unix_nano,
                            "end_ns": s.end_time_unix_nano, "attributes": attrs_of(s.attributes),
                            "events": [{"name": e.name, "time_ns": e.time_unix_nano,
                                        "attributes": attrs_of(e.attributes)} for e in s.events],
                            "status": {"code": s.status.code, "message": s.status.message},
                            "resource": resource, "scope": ss.scope.name,
                        })
        return out

    def exchanges(self) -> list[dict[str, Any]]:
        """The exchanges' own spans (``chat …``), without their parts (translate, queue, backend, repair)."""
        return [s for s in self.spans() if s["name"] == "chat" or s["name"].startswith("chat ")]

    def children(self, span: dict[str, Any]) -> list[dict[str, Any]]:
        """The spans whose parent is ``span``, by name."""
        return sorted((s for s in self.spans() if s["parent_span_id"] == span["span_id"]
                       and s["trace_id"] == span["trace_id"]), key=lambda s: s["name"])

    def metric_points(self) -> list[dict[str, Any]]:
        """Histogram data points, each with its metric's name, unit and temporality."""
        out = []
        for r in self._of("/v1/metrics"):
            req = ExportMetricsServiceRequest.FromString(r.body)
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.WhichOneof("data") != "histogram":
                            continue
                        for p in m.histogram.data_points:
                            out.append({
                                "name": m.name, "unit": m.unit,
                                "temporality": m.histogram.aggregation_temporality,
                                "attributes": attrs_of(p.attributes), "count": p.count, "sum": p.sum,
                                "bounds": list(p.explicit_bounds), "bucket_counts": list(p.bucket_counts),
                                "start_ns": p.start_time_unix_nano, "time_ns": p.time_unix_nano,
                            })
        return out

    def wait(self, check: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return check()
