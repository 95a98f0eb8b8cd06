"""What batch and File Search bodies name (affinity.refs / job_refs), and custom-method paths."""

from __future__ import annotations

import orjson
import pytest

from gemini_gateway.affinity.refs import interaction_names, named_resources
from gemini_gateway.errors import GatewayError
from gemini_gateway.resource_names import method_path


@pytest.mark.parametrize(
    "tool",
    [
        {"fileSearch": {"fileSearchStoreNames": ["fileSearchStores/a-1"]}},
        {"fileSearch": {"file_search_store_names": ["fileSearchStores/a-1"]}},  # google-genai's spelling
        {"file_search": {"file_search_store_names": ["fileSearchStores/a-1"]}},
    ],
)
def test_a_store_in_tools_is_named_in_every_spelling(tool: dict[str, object]) -> None:
    body = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [tool]}
    assert named_resources(orjson.dumps(body)) == {"fileSearchStores/a-1"}


def test_store_names_outside_the_grammar_are_not_routed_by() -> None:
    body = {"tools": [{"fileSearch": {"fileSearchStoreNames": ["fileSearchStores/../x", 7]}}]}
    assert named_resources(orjson.dumps(body)) == set()


def test_a_batch_names_its_input_file_and_what_its_requests_name() -> None:
    body = {
        "batch": {
            "inputConfig": {
                "fileName": "files/input1",
                "requests": {
                    "requests": [
                        {"request": {"contents": [{"parts": [{"fileData": {"fileUri": "files/pic2"}}]}]}},
                        {"request": {"cachedContent": "cachedContents/c3"}},
                    ]
                },
            }
        }
    }
    assert named_resources(orjson.dumps(body)) == {"files/input1", "files/pic2", "cachedContents/c3"}


def test_an_embeddings_batch_names_the_files_of_its_requests_content() -> None:
    request = {
        "content": {"parts": [{"file_data": {"file_uri": "files/pic9"}}]},
        "taskType": "RETRIEVAL_QUERY",
    }
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}}
    assert named_resources(orjson.dumps(body)) == {"files/pic9"}


def test_an_interaction_names_its_store_tools_and_the_files_of_its_input() -> None:
    request = {
        "model": "gemini-2.5-flash",
        "tools": [
            {"type": "file_search", "file_search_store_names": ["fileSearchStores/s-1", "../x"]},
            {"type": "google_search"},
        ],
        "input": [
            {
                "type": "user_input",
                "content": [
                    {"type": "text", "text": "files/not-a-uri-key"},
                    {"type": "document", "uri": "https://host.example/v1beta/files/doc1", "mime_type": "x"},
                ],
            },
            {"type": "image", "uri": "files/img2"},
        ],
    }
    assert interaction_names(request) == {"fileSearchStores/s-1", "files/doc1", "files/img2"}
    assert interaction_names({"input": "files/abc", "tools": "nonsense"}) == set()


def test_custom_methods_keep_their_colon_and_nothing_else_does() -> None:
    assert method_path("v1/batches/abc:cancel") == "v1/batches/abc:cancel"
    assert method_path("v1/models/gemini-2.5-flash:batchGenerateContent").endswith(":batchGenerateContent")
    for bad in ("v1/batches/abc:can/cel", "v1/batches/abc:x?y", "v1/batches/a b:cancel"):
        with pytest.raises(GatewayError):
            method_path(bad)
