"""Prometheus metrics at `GET /metrics`, in the text exposition format (version 0.0.4).

The request path only adds to plain ints (a dict entry and a histogram bucket per exchange, in
`finished`, an observer of gemini_gateway.observe); everything else (pool state, recorder queue and spool, the store) is read
when Prometheus scrapes. The format is written here rather than with prometheus-client: it is a
few lines of text, and the client's locked counters and label objects would cost the hot path
more than the dict updates do.

The route answers only a bearer token: METRICS_TOKEN when set, else the admin token (a scraper
holding the admin token could manage the gateway: give it METRICS_TOKEN instead). Credentials
appear by id and masked label, never their secret.
"""

from __future__ import annotations

import bisect
import hmac
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_gateway import __version__
from gemini_gateway.errors import RequestError, google_error_body
from gemini_gateway.exchange import Exchange

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway
    from gemini_gateway.observe import Finished

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RECORDER_COUNTERS = frozenset(
    {"submitted", "written", "spooled", "replayed", "rejected", "overflowed", "reduced", "lost", "purged"}
)


class Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.sum += value


class Metrics:
    """What the request path counts: plain ints, summed on scrape."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)  # (dialect, status) -> count
        self.errors: dict[tuple[str, str], int] = defaultdict(int)  # (dialect, kind) -> count
        self.duration: dict[str, Histogram] = defaultdict(Histogram)
        self.first_token: dict[str, Histogram] = defaultdict(Histogram)
        self.attempts: dict[tuple[str, str], int] = defaultdict(int)  # (kind, outcome) -> count

    def finished(self, call: Finished) -> None:
        self.count(call.exchange, call.status, call.ended - call.started, call.first_body)

    def count(self, exchange: Exchange | None, status: int, seconds: float, first_byte: float | None) -> None:
        dialect = exchange.dialect if exchange is not None else "other"
        self.requests[dialect, status] += 1
        if status >= 400:
            self.errors[dialect, "client" if status < 500 else "server"] += 1
        self.duration[dialect].observe(seconds)
        if exchange is not None and exchange.stream and first_byte is not None:
            self.first_token[dialect].observe(first_byte)
        if exchange is not None:
            for attempt in exchange.attempts:
                key = attempt.backend, attempt.status
                labels = _ATTEMPT_LABELS.get(key)
                if labels is None:
                    labels = _attempt_labels(key)
                self.attempts[labels] += 1


# (backend, upstream status) -> its labels: the same few pairs call after call, each a str() less.
_ATTEMPT_LABELS: dict[tuple[str, int | None], tuple[str, str]] = {}


def _attempt_labels(key: tuple[str, int | None]) -> tuple[str, str]:
    backend, status = key
    labels = backend, str(status) if status is not None else "error"
    if len(_ATTEMPT_LABELS) < 1024:  # backends times statuses: few, but never grown without bound
        _ATTEMPT_LABELS[key] = labels
    return labels


def _labels(**values: object) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in values.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


def _histogram(name: str, help_text: str, histograms: dict[str, Histogram]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for dialect, histogram in sorted(histograms.items()):
        running = 0
        for bound, count in zip((*BUCKETS, float("inf")), histogram.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f"{name}_bucket{_labels(dialect=dialect, le=le)} {running}")
        lines.append(f"{name}_sum{_labels(dialect=dialect)} {histogram.sum!r}")
        lines.append(f"{name}_count{_labels(dialect=dialect)} {running}")
    return lines


def render(gateway: Gateway, metrics: Metrics) -> str:
    """The whole exposition: counters from the request path, the rest read now."""
    replica = gateway.settings.resolved_replica_id
    lines = _family(
        "gemini_gateway_info",
        "gauge",
        "This gateway process: its replica id and version",
        [(_labels(replica=replica, version=__version__), 1)],
    )
    lines += _family(
        "gemini_gateway_requests_total",
        "counter",
        "Model calls answered, by client dialect and HTTP status",
        ((_labels(dialect=d, status=s), n) for (d, s), n in sorted(metrics.requests.items())),
    )
    lines += _family(
        "gemini_gateway_errors_total",
        "counter",
        "Model calls answered with an error status (client: 4xx, server: 5xx)",
        ((_labels(dialect=d, kind=k), n) for (d, k), n in sorted(metrics.errors.items())),
    )
    lines += _family(
        "gemini_gateway_upstream_attempts_total",
        "counter",
        "Calls to upstream credentials, by backend and upstream status ('error': no answer)",
        ((_labels(backend=k, status=s), n) for (k, s), n in sorted(metrics.attempts.items())),
    )
    lines += _histogram(
        "gemini_gateway_request_duration_seconds",
        "Time from request to the end of the answer",
        metrics.duration,
    )
    lines += _histogram(
        "gemini_gateway_time_to_first_token_seconds",
        "Streamed calls: time from request to the first bytes of the answer",
        metrics.first_token,
    )
    lines += _pool_lines(gateway)
    lines += _recorder_lines(gateway)
    lines += _family(
        "gemini_gateway_store_up",
        "gauge",
        "1 when the store is open (0 while the gateway waits for it)",
        [("", 1 if gateway.database is not None else 0)],
    )
    return "\n".join(lines) + "\n"


def _pool_lines(gateway: Gateway) -> list[str]:
    now = gateway.pool.clock()
    credentials = list(gateway.pool)
    ids = [_labels(credential=c.id, label=c.label, kind=c.kind) for c in credentials]
    lines = _family(
        "gemini_gateway_credential_disabled",
        "gauge",
        "1 when the credential is disabled (by an operator or by the gateway's health checks)",
        (
            (i, int(not c.enabled or c.disabled_reason is not None))
            for i, c in zip(ids, credentials, strict=True)
        ),
    )
    lines += _family(
        "gemini_gateway_credential_in_flight",
        "gauge",
        "Calls the credential is serving now",
        ((i, c.in_flight) for i, c in zip(ids, credentials, strict=True)),
    )
    cooling = [
        (_labels(credential=c.id, label=c.label, kind=c.kind, model=model), round(ends - now, 3))
        for c in credentials
        for model, ends in sorted(c.cooldowns.items())
        if ends > now
    ]
    lines += _family(
        "gemini_gateway_credential_cooldown_seconds",
        "gauge",
        "Seconds left of a cooldown, per credential and model ('*': every model)",
        cooling,
    )
    quota = gateway.pool.quotas.samples({c.id: c for c in credentials}, now)
    labelled = [
        (_labels(credential=c.id, label=c.label, kind=c.kind, model=model, dimension=name), used, limit)
        for c, model, name, used, limit in quota
    ]
    lines += _family(
        "gemini_gateway_credential_quota_used",
        "gauge",
        "Quota this replica counted per credential and model: calls this minute (rpm), input tokens "
        "this minute (tpm), calls this quota day (rpd)",
        ((labels, used) for labels, used, _ in labelled),
    )
    lines += _family(
        "gemini_gateway_credential_quota_limit",
        "gauge",
        "The limit that holds for it (its tier's, or one learned from a 429), where one is known",
        ((labels, limit) for labels, _, limit in labelled if limit is not None),
    )
    return lines


def _recorder_lines(gateway: Gateway) -> list[str]:
    recorder = gateway.recorder
    if recorder is None:
        return []
    status: dict[str, Any] = recorder.status()
    lines: list[str] = []
    for key, value in sorted(status.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if key in RECORDER_COUNTERS:
            lines += _family(
                f"gemini_gateway_recorder_{key}_total", "counter", f"Records {key}", [("", value)]
            )
        else:
            lines += _family(f"gemini_gateway_recorder_{key}", "gauge", f"Recorder {key}", [("", value)])
    lines += _family(
        "gemini_gateway_recorder_healthy",
        "gauge",
        "1 when records go straight to the store",
        [("", bool(status.get("healthy")))],
    )
    spool = status.get("spool")
    if isinstance(spool, dict):
        for key, value in sorted(spool.items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                lines += _family(
                    f"gemini_gateway_recorder_spool_{key}", "gauge", f"Spool on disk: {key}", [("", value)]
                )
    return lines


def metrics_route(gateway: Gateway, metrics: Metrics) -> Route:
    settings = gateway.settings
    secret = settings.metrics_token or settings.admin_token
    expected = f"Bearer {secret.get_secret_value()}".encode() if secret is not None else None

    async def scrape(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if expected is not None and hmac.compare_digest(given.encode(), expected):
            return Response(render(gateway, metrics), media_type=CONTENT_TYPE)
        refusal = RequestError(
            "GET /metrics needs METRICS_TOKEN (or the admin token) as a bearer token", status_code=401
        )
        # It takes the admin token: a wrong one here is braked as on every other door, and
        # counts there too (gemini_gateway.brake). A missing one, or another valid token of this
        # gateway (the admin's where METRICS_TOKEN is set), is no guess.
        token = given.partition(" ")[2].strip() or given.strip()
        guess = bool(token) and gateway.auth.identify(token) is None
        error = gateway.auth.wrong_token(request.scope, token, refusal) if guess else refusal
        return Response(
            google_error_body(error.status_code, error.message),
            error.status_code,
            media_type="application/json",
            headers={"www-authenticate": "Bearer", **error.headers()},
        )

    return Route("/metrics", scrape, methods=["GET"], include_in_schema=False)
