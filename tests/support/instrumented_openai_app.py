"""An application instrumented the way users instrument theirs: the real ``openai`` client and
one real OpenTelemetry instrumentation, exporting OTLP/HTTP (protobuf) where the standard
``OTEL_EXPORTER_OTLP_*`` variables say. It runs in a sidecar virtualenv
(tests/support/sidecar_venv.py), never in the project's, and imports nothing of shadowgap.

Usage: ``python instrumented_openai_app.py <instrumentation> <openai base url>``, with a JSON
list of chat completion requests on stdin (each passed to ``client.chat.completions.create`` as
keyword arguments). The instrumentation's content settings come from the environment the test
sets, exactly as documented in docs/sending-traffic.md. Prints one line per answer."""

from __future__ import annotations

import json
import sys


def _sdk_providers() -> tuple[object, object]:
    """A tracer and a logger provider exporting OTLP/HTTP protobuf, set as the globals."""
    from opentelemetry import _logs, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "instrumented-app"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)
    return tracer_provider, logger_provider


def instrument(name: str) -> list[object]:
    """Turn on one instrumentation; the providers to flush at the end."""
    if name == "openlit":
        import openlit

        # OpenLIT builds its own providers from OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS. Without
        # batching its log record (which alone holds the tool definitions) is exported before
        # its span, always (docs/sending-traffic.md).
        openlit.init(disable_metrics=True, disable_batch=True)
        from opentelemetry import _logs, trace

        return [trace.get_tracer_provider(), _logs.get_logger_provider()]
    tracer_provider, logger_provider = _sdk_providers()
    if name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    elif name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # type: ignore
    elif name == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # type: ignore
    else:
        raise SystemExit(f"unknown instrumentation {name!r}")
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    return [tracer_provider, logger_provider]


def main() -> None:
    name, base_url = sys.argv[1], sys.argv[2]
    requests = json.load(sys.stdin)
    providers = instrument(name)
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="sk-not-a-real-key", max_retries=0)
    for request in requests:
        response = client.chat.completions.create(**request)
        print(response.choices[0].model_dump_json(), flush=True)
    for provider in providers:
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()  # flushes what the batch processors hold


if __name__ == "__main__":
    main()
