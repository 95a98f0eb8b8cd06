"""The secret box checks its key at start-up, though it imports `cryptography` only when used."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gemini_gateway.settings import Settings
from gemini_gateway.store.secrets import KEY_FILE, SecretBox, load_box


@pytest.mark.parametrize("key", [b"not-a-key", b"", b"c2hvcnQ=", base64.urlsafe_b64encode(bytes(33))])
def test_a_bad_key_is_refused_when_the_box_is_made(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        SecretBox(key)


def test_a_bad_encryption_key_setting_stops_the_start_up(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, encryption_key=SecretStr("nope"))
    with pytest.raises(ValueError, match="ENCRYPTION_KEY must be a Fernet key"):
        load_box(settings)


def test_the_key_file_it_creates_is_a_fernet_key(tmp_path: Path) -> None:
    box = load_box(Settings(_env_file=None, data_dir=tmp_path))
    token = box.encrypt("upstream-secret")
    key = (tmp_path / KEY_FILE).read_bytes().strip()
    assert Fernet(key).decrypt(token.encode()).decode() == "upstream-secret"
    assert load_box(Settings(_env_file=None, data_dir=tmp_path)).decrypt(token) == "upstream-secret"
    assert SecretBox(Fernet.generate_key()).decrypt(token) is None  # another key: unreadable, no error
