"""The deployment files, checked as far as they can be without a container engine.

`Dockerfile`, `compose.yaml` and `deploy/nginx.conf` are not built or run here (no Docker engine
on the test machine): these tests read them and check that they fit together and the project:
what the Dockerfile copies exists and is not ignored, the image runs as a user of its own with
the project's command, compose starts three gateway replicas behind nginx with Redis and
PostgreSQL, and nginx sends traffic to the gateway service's port, unbuffered, with WebSockets
upgraded. A build (`docker compose up -d --build`) remains the check of the image itself.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


# Dockerfile ----------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns)


def test_the_dockerfile_copies_what_exists_and_runs_the_gateway_as_its_own_user() -> None:
    steps = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip()]
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, "multi-stage: the run stage carries no build tools"
    copies = [args.split() for word, args in steps if word == "COPY"]
    from_context = [c for c in copies if not any(a.startswith("--from") for a in c)]
    assert from_context
    for copy in from_context:
        for source in copy[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    run_stage = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [args for word, args in run_stage if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image runs as a user of its own"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(project["project"]["optional-dependencies"])
    for word, args in steps:
        if word == "RUN" and "uv sync" in args:
            assert set(re.findall(r"--extra (\S+)", args)) <= extras
    entrypoint = next(args for word, args in run_stage if word == "ENTRYPOINT")
    assert yaml.safe_load(entrypoint)[0] in project["project"]["scripts"]
    exposed = next(args for word, args in run_stage if word == "EXPOSE")
    env = " ".join(args for word, args in run_stage if word == "ENV")
    assert f"PORT={exposed}" in env and "HOST=0.0.0.0" in env
    health = next(args for word, args in run_stage if word == "HEALTHCHECK")
    assert f"127.0.0.1:{exposed}/health" in health


# compose.yaml --------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_runs_three_gateway_replicas_behind_nginx_with_redis_and_postgresql() -> None:
    services = compose()["services"]
    assert {"gateway", "nginx", "redis", "postgres", "migrate"} <= set(services)
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 3
    assert gateway["build"] == "." and gateway["command"] == ["serve"]
    env = gateway["environment"]
    assert re.fullmatch(
        r"postgresql://gateway:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432/gateway", env["DATABASE_URL"]
    )
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["GATEWAY_TOKENS"] and env["ENCRYPTION_KEY"] and env["ADMIN_TOKEN"]
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["gateway"]["condition"] == "service_healthy"
    # Only nginx's network is believed about forwarded addresses, and that is compose's network.
    subnet = compose()["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert env["FORWARDED_ALLOW_IPS"] == subnet


def test_every_variable_compose_requires_is_in_the_env_example() -> None:
    text = (ROOT / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert {"POSTGRES_PASSWORD", "GATEWAY_TOKENS", "ADMIN_TOKEN", "ENCRYPTION_KEY"} <= required
    example = (ROOT / ".env.example").read_text()
    for name in required:
        assert re.search(rf"^#?\s*{name}=", example, re.MULTILINE), f"{name} is not in .env.example"


# nginx.conf ----------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = field(default=None)

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration syntax: words (quoted or not), `;` ends a directive, `{}` a block.
    Raises ValueError on an unclosed block, a stray `}` or a directive without its `;`."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|#[^\n]*|[{};]|[^\s{};"\'#]+', text)
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            continue
        if token == ";":
            if not words:
                raise ValueError("an empty directive")
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            if not words:
                raise ValueError("a block without a name")
            directive = Directive(words[0], words[1:], [])
            stack[-1].append(directive)
            assert directive.block is not None
            stack.append(directive.block)
            words = []
        elif token == "}":
            if words or len(stack) == 1:
                raise ValueError("a stray '}' or a directive without ';'")
            stack.pop()
        else:
            words.append(token.strip("\"'") if token[0] in "\"'" else token)
    if words or len(stack) != 1:
        raise ValueError("the configuration ends inside a directive or block")
    return stack[0]


def test_the_nginx_parser_refuses_what_nginx_refuses() -> None:
    for broken in ("http { server { listen 80; }", "listen 80", "events { } }", "http { proxy_pass x }"):
        try:
            parse_nginx(broken)
        except ValueError:
            continue
        raise AssertionError(f"accepted: {broken!r}")


def test_nginx_balances_over_the_gateway_replicas_unbuffered_with_websockets() -> None:
    top = Directive("main", [], parse_nginx((ROOT / "deploy" / "nginx.conf").read_text()))
    (http,) = top.find("http")
    (upstream,) = http.find("upstream")
    servers = upstream.find("server")
    port = compose()["services"]["nginx"]["ports"][0].rsplit(":", 1)[1]
    gateway_port = dockerfile_env_port()
    assert [s.args[0] for s in servers] == [f"gateway:{gateway_port}"]
    assert "resolve" in servers[0].args and http.find("resolver"), "replicas re-resolved as they come and go"
    (server,) = http.find("server")
    assert server.find("listen")[0].args == [port]
    (location,) = server.find("location")
    settings = {d.name: d.args for d in location.block or [] if d.name != "proxy_set_header"}
    assert settings["proxy_pass"] == [f"http://{upstream.args[0]}"]
    assert settings["proxy_buffering"] == ["off"] and settings["proxy_request_buffering"] == ["off"]
    headers = {d.args[0].lower(): d.args[1] for d in location.find("proxy_set_header")}
    assert headers["upgrade"] == "$http_upgrade" and headers["connection"] == "$connection_upgrade"
    assert {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"} <= set(headers)
    (body_limit,) = server.find("client_max_body_size")
    assert body_limit.args == ["2g"], "Files API uploads reach 2 GB"


def dockerfile_env_port() -> str:
    env = " ".join(
        args for word, args in dockerfile_instructions((ROOT / "Dockerfile").read_text()) if word == "ENV"
    )
    match = re.search(r"PORT=(\d+)", env)
    assert match
    return match.group(1)
