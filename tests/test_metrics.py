"""`GET /metrics`: scraped over HTTP after real calls, parsed as Prometheus' text format."""

from __future__ import annotations

import re
from collections import defaultdict

import httpx
from google import genai

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory

MODEL = "gemini-2.5-flash"
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by name, and each family's TYPE; AssertionError on a line of any other shape."""
    samples: Samples = defaultdict(list)
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram"} and name not in types
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a sample line: {line!r}"
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line before it"
        samples[name].append((dict(LABEL.findall(labels)), float(value)))
    return samples, types


def scrape(url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{url}/metrics", headers=headers, timeout=10)


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for found, v in samples[name] if labels.items() <= found.items())


def test_calls_show_in_the_metrics(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    fake.add_fault(KEYS[0], "429", retry_delay="60s", count=1)
    with gateway_factory(gemini_api_keys=[KEYS[0], KEYS[1]], pool_strategy="round_robin") as running:
        client = genai.Client(api_key="any", http_options={"base_url": running.url})
        for i in range(3):
            client.models.generate_content(model=MODEL, contents=f"counted {i}")
        streamed = list(client.models.generate_content_stream(model=MODEL, contents="streamed and timed"))
        assert streamed
        missing = httpx.post(f"{running.url}/v1beta/models/{MODEL}:generateContent", content=b"{", timeout=10)
        assert missing.status_code == 400
        answer = scrape(running.url, ADMIN_TOKEN)
        replica = running.gateway.settings.resolved_replica_id
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    samples, types = parse(answer.text)
    assert value(samples, "gemini_gateway_requests_total", dialect="gemini", status="200") == 4
    assert value(samples, "gemini_gateway_requests_total", status="400") == 1
    assert value(samples, "gemini_gateway_errors_total", kind="client") == 1
    assert types["gemini_gateway_request_duration_seconds"] == "histogram"
    assert value(samples, "gemini_gateway_request_duration_seconds_count") == 5
    buckets = [
        v
        for labels, v in samples["gemini_gateway_request_duration_seconds_bucket"]
        if labels["dialect"] == "gemini"
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 5  # cumulative: +Inf holds all five
    assert value(samples, "gemini_gateway_time_to_first_token_seconds_count") == 1
    assert value(samples, "gemini_gateway_upstream_attempts_total", status="429") == 1
    cooling = samples["gemini_gateway_credential_cooldown_seconds"]
    assert len(cooling) == 1 and 0 < cooling[0][1] <= 60 and KEYS[0] not in answer.text
    assert value(samples, "gemini_gateway_credential_disabled") == 0
    assert len(samples["gemini_gateway_credential_in_flight"]) == 2
    assert samples["gemini_gateway_info"] == [
        ({"replica": replica, "version": samples["gemini_gateway_info"][0][0]["version"]}, 1.0)
    ]
    assert value(samples, "gemini_gateway_store_up") == 1
    assert (
        value(samples, "gemini_gateway_recorder_queued") >= 0
        and "gemini_gateway_recorder_spool_files" in samples
    )


def test_metrics_need_their_token(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        assert scrape(running.url, None).status_code == 401
        assert scrape(running.url, "not-the-token").status_code == 401
        assert scrape(running.url, ADMIN_TOKEN).status_code == 200
    client_token = "client-not-scraper-token-77"
    with gateway_factory(metrics_token="scraper-only-token-31f", gateway_tokens=[client_token]) as running:
        assert scrape(running.url, "scraper-only-token-31f").status_code == 200
        assert scrape(running.url, ADMIN_TOKEN).status_code == 401  # the scraper's own, not the admin's
        assert scrape(running.url, client_token).status_code == 401


def test_quota_used_per_credential_and_model(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(gemini_api_keys=[KEYS[0]], gemini_api_key_tier="free") as running:
        client = genai.Client(api_key="any", http_options={"base_url": running.url})
        for i in range(2):
            client.models.generate_content(model=MODEL, contents=f"counted {i}")
        answer = scrape(running.url, ADMIN_TOKEN)
        cid = next(iter(running.gateway.pool)).id
    samples, types = parse(answer.text)
    assert types["gemini_gateway_credential_quota_used"] == "gauge"
    used = {
        labels["dimension"]: v
        for labels, v in samples["gemini_gateway_credential_quota_used"]
        if labels["model"] == MODEL and labels["credential"] == cid
    }
    assert used["rpm"] == 2 and used["rpd"] == 2 and used["tpm"] > 0
    limits = {
        labels["dimension"]: v
        for labels, v in samples["gemini_gateway_credential_quota_limit"]
        if labels["model"] == MODEL
    }
    assert limits["rpm"] >= 2  # the free tier's
    assert KEYS[0] not in answer.text  # labelled by id and masked label, never the key
