"""Client wire formats (OpenAI, Anthropic) <-> the canonical form (Gemini's own JSON).

Everything here is pure: functions that turn a decoded client body into a Gemini request dict,
Gemini response dicts into client bodies, and small stateful translators that turn Gemini stream
events into client SSE bytes. No I/O, no settings, no HTTP; bad client input raises
`ParamError` (a `RequestError` naming the offending field).

Modules, by client surface:

    common                  field checks, ids and thought-signature codec, finish reasons, usage, SSE
    schema                  JSON Schema -> Gemini Schema / JSON-schema form (tools, structured output)
    generation              model suffixes and aliases, reasoning effort -> thinkingConfig
    media                   data URLs, remote images left for the handler to fetch, WAV framing
    openai_messages         chat `messages[]` -> contents
    openai_chat             /v1/chat/completions request and non-stream answer
    openai_stream           /v1/chat/completions stream translator
    openai_responses        /v1/responses request and answer (stateless)
    openai_responses_stream /v1/responses stream translator
    openai_embeddings       /v1/embeddings
    openai_images           /v1/images/generations
    openai_speech           /v1/audio/speech
    openai_models           /v1/models
    openai_errors           OpenAI error envelope
    anthropic_content       Messages content blocks -> contents
    anthropic_messages      /v1/messages request and answer, /v1/messages/count_tokens
    anthropic_stream        /v1/messages stream translator
    anthropic_errors        Anthropic error envelope
"""
