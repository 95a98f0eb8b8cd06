"""Records every API exchange: a tee middleware, a bounded queue, a batch writer and a disk spool."""

from gemini_gateway.recorder.middleware import RecorderMiddleware
from gemini_gateway.recorder.recorder import Recorder, start_recorder, stop_recorder

__all__ = ["Recorder", "RecorderMiddleware", "start_recorder", "stop_recorder"]
