"""What the google-genai end-to-end tests share: a client of the gateway, and which key's project
holds a resource on the fake."""

from __future__ import annotations

from google import genai

from gemini_gateway.fake_upstream import FakeState


def client(url: str) -> genai.Client:
    # The SDK's default version is v1; Google serves these resources there as well as on v1beta.
    return genai.Client(api_key="any-client-token", http_options={"base_url": url})


def owner(fake: FakeState, name: str | None) -> str:
    """The key whose project holds `name` (a file, batch, store, operation...) on the fake."""
    assert name is not None
    key = fake.projects.owner_of(name)
    assert key is not None, f"{name} is in no project"
    return key
