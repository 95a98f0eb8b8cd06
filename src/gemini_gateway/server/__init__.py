"""The gateway's own HTTP/1.1 protocol for uvicorn (`serve`): uvicorn keeps the server around it.

uvicorn runs the process (sockets, lifespan, graceful shutdown, `--workers`, websockets); for
each plain HTTP connection it makes the protocol class it is given, here `http.HttpProtocol`:
the same requests and the same bytes on the wire as uvicorn's httptools protocol, with less work
per request (see `http.py` for what differs). `http.PROTOCOL` is the name `uvicorn.Config(http=)`
takes, so a worker process started by uvicorn's supervisor imports it too.
"""
