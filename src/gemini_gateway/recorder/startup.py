"""Starting and stopping the gateway's recorder, with the sink RECORDING_WRITER names."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.inline import InlineSink, build_all
from gemini_gateway.recorder.journal import Journal, recover
from gemini_gateway.recorder.process import ProcessSink
from gemini_gateway.recorder.recorder import Recorder
from gemini_gateway.recorder.sink import Sink
from gemini_gateway.settings import Settings

if TYPE_CHECKING:
    from gemini_gateway.context import Gateway


async def start_recorder(gateway: Gateway) -> Recorder | None:
    """Start the recorder for a gateway (None when every route is set to "off")."""
    settings = gateway.settings
    if settings.recording_mode == "off" and all(m == "off" for m in settings.recording_route_modes.values()):
        return None
    journal: Journal | None = None
    if settings.recording_journal:
        directory = settings.data_dir / "journal"
        # What a gateway killed outright had answered but not yet stored goes to the spool first,
        # so the writer's first replay takes it in (see journal.py).
        await asyncio.to_thread(recover, directory, settings.data_dir / "spool", build_all)
        journal = Journal(directory)
    sink: Sink
    if writes_in_a_process(settings):
        sink = ProcessSink(settings)
    else:
        sink = InlineSink(settings)
        sink.activity = Activity()  # it shares the loop with requests: it writes between them
    recorder = Recorder(settings, sink, journal)
    await recorder.start(gateway.database)
    gateway.recorder = recorder
    return recorder


def writes_in_a_process(settings: Settings) -> bool:
    """Whether records are written by a process of their own (RECORDING_WRITER; "auto" is decided
    when the settings load)."""
    return settings.recording_writer == "process"


async def stop_recorder(gateway: Gateway) -> None:
    """Flush and stop; call before the database is closed."""
    recorder, gateway.recorder = gateway.recorder, None
    if recorder is not None:
        await recorder.aclose()
