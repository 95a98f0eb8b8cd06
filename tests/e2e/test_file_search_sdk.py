"""google-genai's `client.file_search_stores` (and `.documents`, `client.operations`) against the
gateway, served by the fake upstream.

A store, its documents and operations live in the project of the key that created it; the fake
answers 403 for them on any other key. An interaction, or an OpenAI Responses call whose
`file_search` tool names a store, goes to that key too. Uploads into a store post their chunks without an API key,
and a generateContent whose fileSearch tool names the store must go to the store's key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import errors, types
from google.genai._interactions import APIStatusError  # what client.interactions raises

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway
from tests.e2e.genai_helpers import client, owner

MODEL = "gemini-2.5-flash"


def test_store_upload_poll_generate_on_the_store_key(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    sdk = client(gateway.url)
    store = sdk.file_search_stores.create(config={"display_name": "Bird notes"})
    key = owner(fake, store.name)
    notes = tmp_path / "herons.txt"
    notes.write_text("Herons stand still in shallow water and strike fast. " * 40)
    operation = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store.name or "", file=notes, config={"display_name": "herons"}
    )
    chunks = [c for c in fake.calls if c.method == "uploadChunk"]
    # The SDK posts the chunks without a key (the upload id is the capability); the gateway
    # sends them on the key that started the upload, the one holding the store.
    assert chunks and all(c.key == key for c in chunks)
    assert operation.name and operation.name.startswith(f"{store.name}/upload/operations/")
    while not operation.done:
        operation = sdk.operations.get(operation)
        assert fake.calls[-1].key == key
    assert operation.response and operation.response.document_name
    documents = list(sdk.file_search_stores.documents.list(parent=store.name or ""))
    assert [d.name for d in documents] == [operation.response.document_name]
    assert documents[0].state == types.DocumentState.STATE_ACTIVE and fake.calls[-1].key == key
    tool = types.Tool(file_search=types.FileSearch(file_search_store_names=[store.name or ""]))
    before = len(fake.calls)
    for _ in range(len(KEYS) * 2):
        answer = sdk.models.generate_content(
            model=MODEL, contents="How do herons fish?", config=types.GenerateContentConfig(tools=[tool])
        )
        assert answer.text
    served = [c.key for c in fake.calls[before:] if c.method == "generateContent"]
    assert served == [key] * (len(KEYS) * 2)
    plain = []
    for _ in range(len(KEYS)):
        sdk.models.generate_content(model=MODEL, contents="No store here")
        plain.append(fake.calls[-1].key)
    assert set(plain) == set(KEYS)  # everything else keeps balancing


def test_stores_listed_over_keys_got_imported_into_and_deleted(
    gateway: RunningGateway, fake: FakeState, tmp_path: Path
) -> None:
    sdk = client(gateway.url)
    stores = [sdk.file_search_stores.create(config={"display_name": f"s{i}"}) for i in range(len(KEYS))]
    owners = {s.name: owner(fake, s.name) for s in stores}
    assert set(owners.values()) == set(KEYS)
    listed = [s.name for s in sdk.file_search_stores.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(owners)
    source = tmp_path / "egrets.txt"
    source.write_text("Egrets are white herons.")
    for store in stores:
        assert store.name
        got = sdk.file_search_stores.get(name=store.name)
        assert got.display_name == store.display_name and fake.calls[-1].key == owners[store.name]
    # An uploaded file can be imported into the store of its own project.
    uploaded = sdk.files.upload(file=source)
    file_key = owner(fake, uploaded.name)
    home = next(s for s in stores if owners[s.name] == file_key)
    operation = sdk.file_search_stores.import_file(
        file_search_store_name=home.name or "", file_name=uploaded.name or ""
    )
    assert fake.calls[-1].key == file_key and operation.name
    operation = sdk.operations.get(operation)
    assert operation.done and operation.response and operation.response.document_name
    document = sdk.file_search_stores.documents.get(name=operation.response.document_name)
    assert document.name == operation.response.document_name
    with pytest.raises(errors.APIError) as failed:  # without force, a store holding documents stays
        sdk.file_search_stores.delete(name=home.name or "")
    assert failed.value.code == 400 and failed.value.status == "FAILED_PRECONDITION"
    assert sdk.file_search_stores.get(name=home.name or "").name == home.name
    for store in stores:
        sdk.file_search_stores.delete(name=store.name or "", config={"force": True})
        assert fake.calls[-1].key == owners[store.name]
    assert list(sdk.file_search_stores.list()) == []


def test_documents_deleted_on_the_store_key(gateway: RunningGateway, fake: FakeState, tmp_path: Path) -> None:
    sdk = client(gateway.url)
    store = sdk.file_search_stores.create(config={"display_name": "one"})
    key = owner(fake, store.name)
    path = tmp_path / "n.txt"
    path.write_text("kingfisher")
    operation = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store.name or "", file=path
    )
    operation = sdk.operations.get(operation)
    assert operation.response and operation.response.document_name
    sdk.file_search_stores.documents.delete(name=operation.response.document_name, config={"force": True})
    assert fake.calls[-1].key == key and fake.calls[-1].method == "documents"
    assert list(sdk.file_search_stores.documents.list(parent=store.name or "")) == []


def test_interactions_naming_a_store_go_to_its_key_streamed_or_not(
    gateway: RunningGateway, fake: FakeState
) -> None:
    """An interaction's `file_search` tool (flat and snake_case, unlike generateContent's) pins
    it to the store's key; one continuing a conversation of another key cannot use the store."""
    sdk = client(gateway.url)
    store = sdk.file_search_stores.create(config={"display_name": "Wader notes"})
    key = owner(fake, store.name)
    tools: Any = [{"type": "file_search", "file_search_store_names": [store.name]}]
    before = len(fake.calls)
    made = [sdk.interactions.create(model=MODEL, input="How do herons fish?", tools=tools) for _ in KEYS]
    for event in sdk.interactions.create(model=MODEL, input="And egrets?", tools=tools, stream=True):
        assert event.event_type != "error"
    assert all(m.status == "completed" for m in made)
    served = [c.key for c in fake.calls[before:] if c.method == "createInteraction"]
    assert served == [key] * (len(KEYS) + 1)
    elsewhere = next(
        i
        for i in (sdk.interactions.create(model=MODEL, input="Owls?") for _ in range(len(KEYS) * 2))
        if fake.interactions.owner_of(i.id or "") != key
    )
    before = len(fake.calls)
    with pytest.raises(APIStatusError) as refused:
        sdk.interactions.create(model=MODEL, input="More", tools=tools, previous_interaction_id=elsewhere.id)
    assert refused.value.status_code == 400 and store.name in str(refused.value)
    assert [c for c in fake.calls[before:] if c.method == "createInteraction"] == []


def test_openai_responses_file_search_over_a_store_goes_to_its_key(
    gateway: RunningGateway, fake: FakeState
) -> None:
    """OpenAI's hosted `file_search` tool names File Search stores as `vector_store_ids`."""
    sdk = client(gateway.url)  # kept: a dropped google-genai client closes its connections
    store = sdk.file_search_stores.create(config={"display_name": "Shorebirds"})
    key = owner(fake, store.name)
    oai = openai.OpenAI(api_key="client-token", base_url=f"{gateway.url}/v1", max_retries=0)
    before = len(fake.calls)
    bare = (store.name or "").removeprefix("fileSearchStores/")
    for ids in ([store.name], [bare]) * len(KEYS):
        tool: Any = {"type": "file_search", "vector_store_ids": ids, "max_num_results": 3}
        answer = oai.responses.create(model=MODEL, input="How do plovers feed?", tools=[tool])
        assert answer.output_text
    served = [c.key for c in fake.calls[before:] if c.method == "generateContent"]
    assert served == [key] * (2 * len(KEYS))
    for wrong in (
        {"vector_store_ids": ["../x"]},
        {"vector_store_ids": [store.name], "filters": {"type": "eq", "key": "a", "value": 1}},
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            oai.responses.create(model=MODEL, input="hi", tools=[{"type": "file_search", **wrong}])
        assert "tools[0]" in str(refused.value)
