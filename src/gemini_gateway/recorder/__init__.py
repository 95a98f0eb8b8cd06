"""Records every API exchange: a tee middleware, a crash journal and a sink (sink.py) that stores
them through a bounded queue, a batch writer and a disk spool, in the gateway's process or (by
default) in a writer process of its own."""

from gemini_gateway.recorder.middleware import RecorderMiddleware
from gemini_gateway.recorder.recorder import Recorder
from gemini_gateway.recorder.startup import start_recorder, stop_recorder

__all__ = ["Recorder", "RecorderMiddleware", "start_recorder", "stop_recorder"]
