"""The gateway's own HTTP/1.1 protocol for uvicorn (`serve`): uvicorn keeps the server around it.

uvicorn runs the process (sockets, lifespan, graceful shutdown, `--workers`, websockets); for
each plain HTTP connection it makes the protocol class it is given, here `http.HttpProtocol`:
the same requests and the same bytes on the wire as uvicorn's httptools protocol, with less work
per request (see `http.py` and `cycle.py` for what differs). `serve` names it as a string
("gemini_gateway.server.http:HttpProtocol"), so each process of `--workers` imports it too;
`notice.py` is what the routes read of it (the disconnect notice), without importing it.
"""
