"""Upstream backends: one module per kind of upstream access, all speaking `Backend`."""

from gemini_gateway.backends.base import Backend, EventStream, UpstreamCall, UpstreamReply

__all__ = ["Backend", "EventStream", "UpstreamCall", "UpstreamReply"]
