"""google-genai's `client.batches` against the gateway, served by the fake upstream.

A batch lives in the project of the key that created it (the fake answers 403 on any other), so
every poll, cancel and delete must land there, and a batch whose input is an uploaded file must be
created by the file's key. The fake moves a batch one state per poll, so the SDK's polling runs as
against Google.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors, types

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.e2e.genai_helpers import client, owner

MODEL = "gemini-2.5-flash"


def inline(*prompts: str) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(contents=prompt, metadata={"key": f"r{index}"})
        for index, prompt in enumerate(prompts)
    ]


def test_inline_batch_polled_to_success_then_listed_and_deleted(
    gateway: RunningGateway, fake: FakeState
) -> None:
    sdk = client(gateway.url)
    job = sdk.batches.create(
        model=MODEL, src=inline("Name a river.", "Name a mountain."), config={"display_name": "geo"}
    )
    assert job.name and job.name.startswith("batches/") and job.state == types.JobState.JOB_STATE_PENDING
    key = owner(fake, job.name)
    states = []
    while not job.done:
        job = sdk.batches.get(name=job.name)
        states.append(job.state)
        assert fake.calls[-1].key == key and fake.calls[-1].method == "getBatch"
    assert states == [types.JobState.JOB_STATE_RUNNING, types.JobState.JOB_STATE_SUCCEEDED]
    assert job.dest and job.dest.inlined_responses and len(job.dest.inlined_responses) == 2
    answers = [r.response.text for r in job.dest.inlined_responses if r.response]
    assert len(answers) == 2 and all(answers)
    assert [r.metadata for r in job.dest.inlined_responses] == [{"key": "r0"}, {"key": "r1"}]
    assert job.name in [b.name for b in sdk.batches.list(config={"page_size": 1})]
    sdk.batches.delete(name=job.name)
    assert fake.calls[-1].key == key and fake.calls[-1].method == "deleteBatch"
    assert job.name not in [b.name for b in sdk.batches.list()]
    with pytest.raises(errors.APIError) as failed:
        sdk.batches.get(name=job.name)
    assert failed.value.code in (403, 404)


def test_batches_spread_over_keys_each_cancelled_on_its_own(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url)
    jobs = [sdk.batches.create(model=MODEL, src=inline(f"Question {i}")) for i in range(len(KEYS) * 2)]
    owners = {job.name: owner(fake, job.name) for job in jobs}
    assert set(owners.values()) == set(KEYS)  # creating balances
    listed = [b.name for b in sdk.batches.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(owners)
    for job in jobs:
        assert job.name
        sdk.batches.cancel(name=job.name)
        assert fake.calls[-1].key == owners[job.name] and fake.calls[-1].method == "cancelBatch"
        assert sdk.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
        assert fake.calls[-1].key == owners[job.name]


def test_batch_from_an_uploaded_file_goes_to_the_file_key_and_its_results_download(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    sdk = client(gateway.url)
    lines = [
        {"key": "first", "request": {"contents": [{"parts": [{"text": "Describe a heron."}]}]}},
        {"key": "second", "request": {"contents": [{"parts": [{"text": "Describe an egret."}]}]}},
    ]
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    for _ in range(len(KEYS)):  # whichever key the upload lands on, the batch follows it
        uploaded = sdk.files.upload(file=source, config={"mime_type": "application/jsonl"})
        file_key = owner(fake, uploaded.name)
        job = sdk.batches.create(model=MODEL, src=uploaded.name)
        assert owner(fake, job.name) == file_key
        while not job.done:
            job = sdk.batches.get(name=job.name or "")
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest and job.dest.file_name
        data = sdk.files.download(file=job.dest.file_name)
        assert fake.calls[-1].key == file_key and fake.calls[-1].method == "downloadFile"
        results = [json.loads(line) for line in data.decode().splitlines()]
        assert [r["key"] for r in results] == ["first", "second"]
        assert all(r["response"]["candidates"][0]["content"]["parts"][0]["text"] for r in results)


def test_batch_naming_a_file_of_another_key_is_refused_by_that_project(
    gateway: RunningGateway, fake: FakeState
) -> None:
    """A file the gateway never saw is judged by Google: the fake's 403 reaches the client."""
    sdk = client(gateway.url)
    with pytest.raises(errors.APIError) as failed:
        sdk.batches.create(model=MODEL, src="files/neveruploaded")
    assert failed.value.code == 403


@pytest.mark.filterwarnings("ignore:batches.create_embeddings\\(\\) is experimental")
def test_embeddings_batch_inline_and_from_a_file_of_its_key(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    """`client.batches.create_embeddings` (`models/{m}:asyncBatchEmbedContent`) is a batch like
    any other: polled on its key to the embeddings; a file input pins the create to the file's key."""
    sdk = client(gateway.url)
    src: Any = {"inlined_requests": {"contents": ["heron", "egret"], "config": {"output_dimensionality": 8}}}
    job = sdk.batches.create_embeddings(model="gemini-embedding-001", src=src)
    assert job.name and job.name.startswith("batches/") and fake.calls[-1].method == "asyncBatchEmbedContent"
    key = owner(fake, job.name)
    while not job.done:
        job = sdk.batches.get(name=job.name)
        assert fake.calls[-1].key == key and fake.calls[-1].method == "getBatch"
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest
    vectors = [
        r.response.embedding.values
        for r in job.dest.inlined_embed_content_responses or ()
        if r.response and r.response.embedding
    ]
    assert len(vectors) == 2 and all(v and len(v) == 8 for v in vectors) and vectors[0] != vectors[1]
    source = tmp_path / "embed.jsonl"
    source.write_text(json.dumps({"key": "k1", "request": {"content": {"parts": [{"text": "ibis"}]}}}) + "\n")
    for _ in range(len(KEYS)):
        uploaded = sdk.files.upload(file=source, config={"mime_type": "application/jsonl"})
        job = sdk.batches.create_embeddings(model="gemini-embedding-001", src={"file_name": uploaded.name})
        assert owner(fake, job.name) == owner(fake, uploaded.name)
