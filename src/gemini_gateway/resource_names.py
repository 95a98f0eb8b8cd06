"""The grammar of the names a client may put in an upstream URL, and how they become path segments.

The upstream request line is built, never pasted: a model name or resource id that came from a
client (in a path or a JSON body) is checked here before any credential is picked, and goes into a
URL only as one percent-encoded path segment. Anything outside the grammar is a 400 in the
caller's dialect, so nothing like `../`, `?`, `#`, `%`, a space, a control character or a
character outside ASCII can reach Google's request line with a pool key attached.

The grammar, from Google's resource definitions (`google/ai/generativelanguage/v1beta/*.proto`)
and the names real clients send:

    model id       [A-Za-z0-9][A-Za-z0-9._-]{0,127}
                   `gemini-2.5-flash`, `gemini-2.5-flash-preview-05-20`, `gemma-3-27b-it`,
                   `imagen-4.0-generate-001`, `text-embedding-004`, and the gateway's own
                   suffixes (`-search`, `-nothinking`). Google's ids are lowercase, but case is
                   left for Google to judge (it answers 404): only characters that could change
                   the shape of a URL are refused. A client may write `models/{id}` (or, in
                   Vertex's style, `publishers/google/models/{id}`); the bare id is what goes on.
    file id        [a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?
                   Google's own rule for `files/{id}`: up to 40 lowercase letters, digits and
                   dashes, not starting or ending with a dash.
    other ids      [A-Za-z0-9][A-Za-z0-9._-]{0,127}
                   cachedContents, tunedModels, operations, batches, fileSearchStores,
                   interactions and upload ids: Google makes them of lowercase letters, digits
                   and dashes; the wider set is still a single, inert path segment.

No segment can be `.` or `..` (every grammar starts with a letter or digit), and none holds `/`,
`:` (the method separator), `?`, `#`, `%`, whitespace, control or non-ASCII characters. The check
runs on the decoded value: the ASGI server has already turned `%2e%2e` or `%3F` in a request path
into `..` or `?`, which the grammar then refuses.
"""

from __future__ import annotations

import re
from typing import Final, NewType
from urllib.parse import quote

from gemini_gateway.errors import RequestError

MODEL_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FILE_ID: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
RESOURCE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Prefixes a client may write before a model id; the bare id goes upstream.
_MODEL_PREFIXES: Final = ("models/", "publishers/google/models/")
_ID_GRAMMAR: Final = {"files": FILE_ID}


def _shown(value: str) -> str:
    """The name as an error message may quote it: escaped, and short."""
    return ascii(value[:80])


# A model id that passed the grammar: only `model_id` and `bare_model_id` make one, so a value of
# this type (`UpstreamCall.model`) was checked once, where the request was parsed, and goes into a
# URL as it is.
ModelId = NewType("ModelId", str)


def model_id(name: str) -> ModelId:
    """The bare model id in `name` (`gemini-2.5-flash`, `models/gemini-2.5-flash`), or a 400."""
    for prefix in _MODEL_PREFIXES:
        if name.startswith(prefix):
            return bare_model_id(name[len(prefix) :])
    return bare_model_id(name)


def bare_model_id(model: str) -> ModelId:
    """`model` itself if it is a model id (no prefix), or a 400."""
    if MODEL_ID.fullmatch(model) is None:
        raise RequestError(
            f"model {_shown(model)} is not a model name: a model id is letters, digits, '.', '-' "
            "and '_' (e.g. gemini-2.5-flash), optionally after 'models/'"
        )
    return ModelId(model)


def scope_of(name: str) -> ModelId:
    """The quota scope a resource call carries as `UpstreamCall.model`: a collection's name
    (`files`) or an id its route has checked. It keys cooldowns and never goes into a URL (a
    resource call names its target apart, through `method_path`), so it is taken as it is."""
    return ModelId(name)


def resource_id(collection: str, value: str) -> str:
    """`value` as an id in `collection` (`files`, `cachedContents`, ...), or a 400."""
    grammar = _ID_GRAMMAR.get(collection, RESOURCE_ID)
    if grammar.fullmatch(value) is None:
        rule = (
            "up to 40 lowercase letters, digits and '-', not starting or ending with '-'"
            if grammar is FILE_ID
            else "letters, digits, '.', '-' and '_'"
        )
        raise RequestError(f"{collection}/{_shown(value)} is not a valid name: the id is {rule}")
    return value


def segment(value: str) -> str:
    """One path segment for a URL: a checked name percent-encoded so it can never be more."""
    return quote(value, safe="")


def model_segment(model: ModelId | None) -> str:
    """A checked model id as the path segment of `models/{id}`: every character the grammar allows
    is unreserved, so percent-encoding would leave it as it is. No model at all (a call that names
    none where one is needed) is refused as `bare_model_id` refuses an empty name."""
    return model if model is not None else bare_model_id("")


def resource_path(name: str) -> str:
    """A path of names (`v1beta/files/abc`, or `operations/x` from an upstream answer) for a URL:
    each segment checked and percent-encoded, so nothing in it can reshape the URL; else a 400."""
    parts = name.split("/")
    if not all(RESOURCE_ID.fullmatch(part) for part in parts):
        raise RequestError(f"{_shown(name)} is not a resource name")
    return "/".join(segment(part) for part in parts)


def api_version(path: str) -> str:
    """`v1` or `v1beta`, as the client called (Google serves both): the first version segment of
    the path, after an optional `/gemini` alias or `/upload` prefix. The one place this is decided."""
    for segment in path.split("/", 4)[1:4]:
        if segment in ("v1", "v1beta"):
            return segment
    return "v1beta"


_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


def method_path(target: str) -> str:
    """`v1/batches/x:cancel` -> the checked path with its custom method (`:cancel`) kept: names
    never hold a colon, so only a method name may follow one."""
    path, colon, method = target.partition(":")
    if colon and _METHOD.fullmatch(method) is None:
        raise RequestError(f"{method[:40]!a} is not a method name")
    return resource_path(path) + (f":{method}" if colon else "")
