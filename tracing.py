"""Tracing: every turn is one trace in Phoenix, personal data redacted before it leaves.

`setup()` installs one process-wide OpenTelemetry provider (once) whose export target can be
switched: to Phoenix's OTLP HTTP collector, or off. Every module keeps emitting spans through
`opentelemetry.trace.get_tracer(__name__)`; with tracing off they cost nothing and go nowhere.
Before export each span's attributes and event attributes go through the PII redactor
(`guardrails.redaction`), so the raw customer message may be put on a span and only its
redacted form reaches Phoenix.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote

from openinference.instrumentation import (
    get_attributes_from_context,
    using_session,
    using_user,
)
from openinference.semconv.resource import ResourceAttributes
from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

import settings
from guardrails import redaction

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "store-assistant"
SERVICE_NAME = "store-assistant"
TURN_SPAN_NAME = "turn"
EXPORT_TIMEOUT_S = 5  # a slow or dead Phoenix must never hold a customer's turn

_tracer = trace.get_tracer(__name__)
_turn: ContextVar[trace.Span | None] = ContextVar("turn_span", default=None)


class ProjectExporter(SpanExporter):
    """Redacts each finished span (`guardrails.redaction`) and files it under this project.

    Phoenix files spans by the resource's project name; the provider (one per process) has a
    single resource, so the project is set here, per export target.
    """

    def __init__(self, inner: SpanExporter, resource: Resource) -> None:
        self._inner = inner
        self._resource = resource

    def _rewrite(self, span: ReadableSpan) -> ReadableSpan:
        clean = redaction.redact_span(span)
        clean._resource = self._resource  # our own fresh copy; ReadableSpan has no setter
        return clean

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([self._rewrite(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _ContextAttributes(SpanProcessor):
    """Copies the session and user id of `using_session`/`using_user` onto EVERY span.

    OpenInference instrumentors do this for their own spans; our modules' plain OTel spans
    would otherwise lack the session id that groups a conversation in Phoenix.
    """

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for key, value in get_attributes_from_context():
            if key in (SpanAttributes.SESSION_ID, SpanAttributes.USER_ID):
                span.set_attribute(key, value)


class _SwitchableProcessor(SpanProcessor):
    """The one processor installed on the global provider; its target can be replaced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: SpanProcessor | None = None

    def replace(self, target: SpanProcessor | None) -> None:
        with self._lock:
            old, self._target = self._target, target
        if old is not None:
            old.shutdown()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if (target := self._target) is not None:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if (target := self._target) is not None:
            target.on_end(span)

    def shutdown(self) -> None:
        self.replace(None)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        target = self._target
        return target.force_flush(timeout_millis) if target is not None else True


class _State:
    provider: TracerProvider | None = None
    switch = _SwitchableProcessor()
    ui_url: str = ""
    project: str = DEFAULT_PROJECT
    enabled: bool = False


_setup_lock = threading.Lock()


def _install_provider() -> TracerProvider:
    """Create and register the global provider and the CrewAI instrumentor, once per process."""
    if _State.provider is not None:
        return _State.provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # someone registered one first: join it
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(_ContextAttributes())
    provider.add_span_processor(_State.switch)
    from openinference.instrumentation.crewai import CrewAIInstrumentor

    # The event listener also yields tool spans for text-mode tool calls (PITFALLS.md).
    CrewAIInstrumentor().instrument(tracer_provider=provider, use_event_listener=True)
    _State.provider = provider
    return provider


def _collector_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S)


def setup(
    endpoint: str | None,
    project: str = DEFAULT_PROJECT,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """Send spans to the Phoenix at `endpoint` (e.g. "http://127.0.0.1:6006"), or turn off.

    `endpoint=None` switches tracing off and returns None. Calling again re-targets the same
    provider (a process has exactly one). `exporter` replaces the OTLP exporter (tests).
    """
    with _setup_lock:
        if not endpoint and exporter is None:
            _State.switch.replace(None)
            _State.enabled = False
            _State.ui_url = ""
            return None
        provider = _install_provider()
        endpoint = (endpoint or "").rstrip("/")
        resource = provider.resource.merge(
            Resource.create({ResourceAttributes.PROJECT_NAME: project})
        )
        inner = exporter if exporter is not None else _collector_exporter(endpoint)
        chain = ProjectExporter(inner, resource)
        _State.switch.replace(BatchSpanProcessor(chain, schedule_delay_millis=500))
        _State.ui_url, _State.project, _State.enabled = endpoint, project, True
        return provider


def enabled() -> bool:
    return _State.enabled


def project() -> str:
    return _State.project


def flush(timeout_millis: int = 10_000) -> bool:
    """Export every finished span now (tests, shutdown)."""
    return _State.switch.force_flush(timeout_millis)


def customer_ref(customer_id: str | None) -> str | None:
    """A stable pseudonym for a customer id (ids contain names): keyed, so not reversible
    by hashing guessed names; the key lives in the data dir."""
    if not customer_id:
        return None
    key = settings.local_secret("trace-pseudonym-key").encode()
    digest = hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
    return f"customer-{digest[:16]}"


@contextmanager
def turn_span(conversation_id: str, customer_id: str | None, message: str) -> Iterator[trace.Span]:
    """The root span of one turn; everything the turn does nests under it.

    The session id groups a conversation's traces in Phoenix; the customer id appears only as
    a pseudonym; the message is redacted at export. Set `output.value` on the yielded span.
    An exception is recorded on the span and re-raised.
    """
    user = customer_ref(customer_id)
    attributes = {
        SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.CHAIN.value,
        SpanAttributes.SESSION_ID: conversation_id,
        SpanAttributes.INPUT_VALUE: message,
        SpanAttributes.INPUT_MIME_TYPE: "text/plain",
        **({SpanAttributes.USER_ID: user} if user else {}),
    }
    with (
        using_session(conversation_id),
        _using_optional_user(user),
        _tracer.start_as_current_span(
            TURN_SPAN_NAME,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
    ):
        token = _turn.set(span)
        try:
            yield span
        except BaseException as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            _turn.reset(token)


@contextmanager
def _using_optional_user(user: str | None) -> Iterator[None]:
    if user is None:
        yield
        return
    with using_user(user):
        yield


def identify(customer_id: str) -> None:
    """Mark the current turn's root span with the customer who just signed in (pseudonymised)."""
    span = _turn.get() or trace.get_current_span()
    span.set_attribute(SpanAttributes.USER_ID, customer_ref(customer_id) or "")


def current_trace_id() -> str | None:
    """The id of the trace being recorded now (32 hex digits), or None when tracing is off."""
    if not _State.enabled:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def trace_url(trace_id: str) -> str:
    """A link that opens this trace in Phoenix's UI ("" when tracing is off)."""
    if not _State.ui_url:
        return ""
    return f"{_State.ui_url}/redirects/traces/{trace_id}"


def session_url(conversation_id: str) -> str:
    """A link to every trace of one conversation in Phoenix ("" when tracing is off)."""
    if not _State.ui_url:
        return ""
    return f"{_State.ui_url}/redirects/sessions/{quote(conversation_id, safe='')}"
