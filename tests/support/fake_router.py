"""An instrumented fake router: a service traced with the real OpenTelemetry SDK.

Each request makes the spans a real deployment makes: an HTTP server span, a routing span that
records the router's decision (``router.tier``, ``router.score``, ``router.reason``) and the
tenant, a database lookup, and the LLM call, whose attributes follow one of the conventions in
use (OpenTelemetry GenAI semconv in its current and older forms, OpenLLMetry, OpenInference).
Prompts and answers are real GSM8K rows with the two models' recorded answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from tests.support.factories import CHEAP_MODEL, FLAGSHIP_MODEL, gsm8k_rows

CONVENTIONS = ("semconv", "semconv_legacy", "semconv_events", "openllmetry", "openinference")
SYSTEM_PROMPT = "You are a careful math tutor. End with '#### <answer>'."


@dataclass(frozen=True)
class Call:
    """What the router did for one request (what the test expects to find stored)."""

    prompt: str
    answer: str
    tier: str
    model: str
    score: float
    tenant: str
    user: str
    input_tokens: int
    output_tokens: int


class FakeRouter:
    def __init__(
        self,
        convention: str,
        processor: SpanProcessor | None = None,
        service: str = "router-api",
        resource_attributes: dict[str, str] | None = None,
    ) -> None:
        assert convention in CONVENTIONS
        self.convention = convention
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service, **(resource_attributes or {})})
        )
        self.provider.add_span_processor(processor or SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("fake-router", "0.1.0")

    def spans(self) -> Sequence[ReadableSpan]:
        return self.memory.get_finished_spans()

    def handle(self, row: int, tenant: str = "acme", user: str = "u-1") -> Call:
        data = gsm8k_rows()[row % len(gsm8k_rows())]
        prompt = data["prompt"]
        # A toy router: long questions are hard.
        score = min(1.0, len(prompt) / 400)
        cheap = score < 0.5
        model = CHEAP_MODEL if cheap else FLAGSHIP_MODEL
        call = Call(
            prompt=prompt,
            answer=data[f"{model}_response"],
            tier="cheap" if cheap else "flagship",
            model=model,
            score=score,
            tenant=tenant,
            user=user,
            input_tokens=len(prompt.split()),
            output_tokens=len(data[f"{model}_response"].split()),
        )
        with self.tracer.start_as_current_span(
            "POST /v1/chat/completions",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "url.path": "/v1/chat/completions"},
        ) as server:
            with self.tracer.start_as_current_span("route") as route:
                route.set_attributes(
                    {
                        "router.tier": call.tier,
                        "router.score": call.score,
                        "router.reason": "score < 0.5" if cheap else "hard query",
                        "tenant.id": tenant,
                        "enduser.id": user,
                    }
                )
                with self.tracer.start_as_current_span(
                    "SELECT tenants", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}
                ):
                    pass
                with self.tracer.start_as_current_span(
                    f"chat {model}", kind=SpanKind.CLIENT
                ) as llm:
                    self._record(llm, call)
            server.set_attribute("http.response.status_code", 200)
        return call

    def fail(self, row: int = 0) -> None:
        """A call the provider refused with an error."""
        data = gsm8k_rows()[row % len(gsm8k_rows())]
        with self.tracer.start_as_current_span("route") as route:
            route.set_attributes({"router.tier": "cheap", "tenant.id": "acme"})
            with self.tracer.start_as_current_span(f"chat {CHEAP_MODEL}") as llm:
                llm.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": CHEAP_MODEL,
                        "gen_ai.input.messages": _parts_messages("user", data["prompt"]),
                    }
                )
                llm.record_exception(TimeoutError("upstream timed out after 30 s"))
                llm.set_status(Status(StatusCode.ERROR))

    def _record(self, span: Span, call: Call) -> None:
        getattr(self, f"_{self.convention}")(span, call)

    def _semconv(self, span: Span, call: Call) -> None:
        """GenAI semantic conventions v1.37+: messages as attributes, made of parts."""
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": call.model,
                "gen_ai.response.model": call.model,
                "gen_ai.request.temperature": 0.0,
                "gen_ai.request.max_tokens": 512,
                "gen_ai.system_instructions": json.dumps(
                    [{"type": "text", "content": SYSTEM_PROMPT}]
                ),
                "gen_ai.input.messages": _parts_messages("user", call.prompt),
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": call.answer}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": call.input_tokens,
                "gen_ai.usage.output_tokens": call.output_tokens,
                "gen_ai.response.time_to_first_chunk": 0.042,
            }
        )

    def _semconv_legacy(self, span: Span, call: Call) -> None:
        """GenAI semantic conventions up to v1.26: gen_ai.prompt / gen_ai.completion as JSON
        attributes, prompt/completion token names, no operation name."""
        span.set_attributes(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": call.model,
                "gen_ai.response.model": call.model,
                "gen_ai.prompt": json.dumps([{"role": "user", "content": call.prompt}]),
                "gen_ai.completion": json.dumps([{"role": "assistant", "content": call.answer}]),
                "gen_ai.usage.prompt_tokens": call.input_tokens,
                "gen_ai.usage.completion_tokens": call.output_tokens,
            }
        )

    def _semconv_events(self, span: Span, call: Call) -> None:
        """GenAI semantic conventions v1.26 with content on span events."""
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": call.model,
                "gen_ai.usage.input_tokens": call.input_tokens,
                "gen_ai.usage.output_tokens": call.output_tokens,
            }
        )
        span.add_event(
            "gen_ai.content.prompt",
            {"gen_ai.prompt": json.dumps([{"role": "user", "content": call.prompt}])},
        )
        span.add_event(
            "gen_ai.content.completion",
            {"gen_ai.completion": json.dumps([{"role": "assistant", "content": call.answer}])},
        )

    def _openllmetry(self, span: Span, call: Call) -> None:
        """OpenLLMetry (Traceloop): flattened gen_ai.prompt.N / gen_ai.completion.N, a streamed
        chunk event."""
        span.set_attributes(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": call.model,
                "gen_ai.response.model": call.model,
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": SYSTEM_PROMPT,
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": call.prompt,
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": call.answer,
                "gen_ai.completion.0.finish_reason": "stop",
                "gen_ai.usage.prompt_tokens": call.input_tokens,
                "gen_ai.usage.completion_tokens": call.output_tokens,
                "llm.usage.total_tokens": call.input_tokens + call.output_tokens,
                "llm.is_streaming": True,
            }
        )
        time.sleep(0.002)
        span.add_event("llm.content.completion.chunk")

    def _openinference(self, span: Span, call: Call) -> None:
        """OpenInference (Arize Phoenix): llm.* flattened messages, raw input/output values,
        user.id as a context attribute."""
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.system": "openai",
                "llm.model_name": call.model,
                "llm.invocation_parameters": json.dumps(
                    {"temperature": 0, "max_tokens": 512, "api_key": "sk-must-not-be-stored"}
                ),
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": call.prompt,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": call.answer,
                "llm.token_count.prompt": call.input_tokens,
                "llm.token_count.completion": call.output_tokens,
                "llm.token_count.total": call.input_tokens + call.output_tokens,
                "input.value": json.dumps(
                    {"model": call.model, "messages": [{"role": "user", "content": call.prompt}]}
                ),
                "input.mime_type": "application/json",
                "output.value": json.dumps(
                    {"choices": [{"message": {"content": call.answer}, "finish_reason": "stop"}]}
                ),
                "output.mime_type": "application/json",
                "user.id": call.user,
            }
        )
        time.sleep(0.002)
        span.add_event("First Token Stream Event")


def _parts_messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])
