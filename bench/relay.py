"""A do-nothing proxy: the floor for "added latency" on this machine.

`python bench/relay.py --port N --upstream 127.0.0.1:M` pipes every client connection's bytes to
a connection of its own to the upstream and back, on uvloop, parsing nothing. run.py puts it on
the gateway's core and times it like the gateway: what it adds is the price of one more process
and loopback hop here (a core waking up, two more socket reads and writes per direction), which
no proxy, however lean, can avoid. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop

BUFFER = 256 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port: int, upstream: str) -> None:
    host, _, upstream_port = upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("the relay only forwards to loopback")

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(upstream_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port of the fake upstream")
    args = parser.parse_args()
    uvloop.run(main(args.port, args.upstream))
