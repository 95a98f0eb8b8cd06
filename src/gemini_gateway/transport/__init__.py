"""How the gateway talks HTTP to its upstreams.

http1.py              the lean keep-alive HTTP/1.1 client: model calls on direct connections
aiohttp_transport.py  the shared aiohttp session: proxies, streamed uploads, everything else
lazy.py               that session made (and aiohttp imported) on its first use
"""
