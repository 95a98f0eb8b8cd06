# syntax=docker/dockerfile:1
# gemini-gateway: a multi-stage image, non-root, for linux/amd64 and linux/arm64 alike (the code is
# pure Python; every compiled dependency ships wheels for both, so the base image decides).
#   docker build -t gemini-gateway .
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/gemini-gateway --push .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# 1. Build: resolve from uv.lock (exact versions and hashes) into /app/.venv.
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==${UV_VERSION}"
# Same path in both stages: a venv's scripts name its interpreter by absolute path.
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# Dependencies first (their layer survives source edits); the PostgreSQL and MySQL drivers included.
RUN uv sync --frozen --no-install-project --no-editable --extra postgres --extra mysql
COPY src ./src
RUN uv sync --frozen --no-editable --extra postgres --extra mysql

# 2. Run: the interpreter, the venv, a user of its own. No compiler, no uv, no sources.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /data --shell /usr/sbin/nologin gateway \
 && install -d -o gateway -g gateway -m 0700 /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data
USER gateway
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Listening on 0.0.0.0, `serve` refuses to start without GATEWAY_TOKENS (see the README).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["gemini-gateway"]
CMD ["serve"]
