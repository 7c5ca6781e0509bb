"""OpenTelemetry traces, exported to a receiver process standing in for a collector."""

from __future__ import annotations

import base64
import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from ops_helpers import Image, Sink, StartDockyard, push_image, wait_for

FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}


def _spans(sink: Sink) -> list:
    spans = []
    for record in sink.records():
        request = ExportTraceServiceRequest()
        request.ParseFromString(base64.b64decode(record["base64"]))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return spans


def test_requests_and_their_storage_calls_are_traced_when_an_endpoint_is_set(
    start_dockyard: StartDockyard, sink: Sink
) -> None:
    sink.start()
    endpoint = f"http://127.0.0.1:{sink.port}"
    registry = start_dockyard(env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **FAST_EXPORT})
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "traced/app", "v1", Image.random())
        assert client.get("/v2/traced/app/manifests/v1").status_code == 200

    def manifest_get() -> list:
        return [s for s in _spans(sink) if s.name == "GET manifest"]

    [request] = wait_for(manifest_get, 60, "the manifest GET's span")
    storage = [s for s in _spans(sink) if s.trace_id == request.trace_id and s != request]
    assert storage, "no storage span in the request's trace"
    assert all(s.name.startswith("storage.") for s in storage)
    assert {s.parent_span_id for s in storage} == {request.span_id}


def test_tracing_without_a_listening_collector_logs_no_error_per_batch(
    start_dockyard: StartDockyard, free_port
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    registry = start_dockyard(env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **FAST_EXPORT})
    for _ in range(15):
        assert httpx.get(f"{registry.url}/v2/").status_code == 200
        time.sleep(0.2)  # a batch exported, and failed, every time
    registry.process.stop()
    complaints = [
        line
        for line in registry.process.stderr().splitlines()
        if "export" in line.lower() or "Traceback" in line
    ]
    assert len(complaints) <= 1, "\n".join(complaints)
