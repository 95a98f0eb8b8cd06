"""The coding-agent CLIs themselves, run once each against the gateway and the fake upstream.

scripts/test-agents.sh installs them at pinned versions into ~/.cache/gemini-gateway/agents; without them (no npm,
no registry) these tests skip. Each runs non-interactively in a throwaway HOME and working folder,
telemetry and updates off. The fake calls the first tool the agent declares, so one prompt makes a
full tool round trip: call, the agent runs it, its result goes back, the answer names it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from gemini_gateway.fake_upstream.generation import CLOSING
from tests.conftest import RunningGateway

BIN = (
    Path(os.environ.get("AGENTS_PREFIX") or Path.home() / ".cache" / "gemini-gateway" / "agents")
    / "node_modules"
    / ".bin"
)
TIMEOUT = 180


def agent(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (scripts/test-agents.sh puts it in {BIN})")
    return path


def run(argv: list[str], home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    work = home / "work"
    work.mkdir(parents=True)
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    return subprocess.run(
        argv, cwd=work, env={**base, **env}, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_claude_code_answers_with_a_tool_round_trip(gateway: RunningGateway, tmp_path: Path) -> None:
    claude = agent("claude")
    result = run(
        [
            str(claude),
            "-p",
            "Read the notes",
            "--model",
            "gemini-2.5-flash",
            "--tools",
            "Read",
            "--max-turns",
            "3",
        ],
        tmp_path,
        {
            "ANTHROPIC_BASE_URL": gateway.url,
            "ANTHROPIC_API_KEY": "sk-gateway-test",
            "ANTHROPIC_SMALL_FAST_MODEL": "gemini-2.5-flash-lite",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The fake's words after the agent ran the call and sent its result back: a full round trip.
    # (Which tool the fake picks is the first Claude Code declares: a placeholder, refused by it.)
    assert re.search(r"The function \w+ returned", result.stdout), result.stdout + result.stderr
    assert CLOSING in result.stdout


def test_codex_answers_with_a_tool_round_trip(gateway: RunningGateway, tmp_path: Path) -> None:
    codex = agent("codex")
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        'model = "gemini-2.5-flash"\n'  # web_search beside functions: dropped, said in a header
        'model_provider = "gateway"\n'
        "[analytics]\nenabled = false\n"
        "[model_providers.gateway]\n"
        'name = "gateway"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'env_key = "GATEWAY_KEY"\n'
        'wire_api = "responses"\n'
    )
    result = run(
        [str(codex), "exec", "--skip-git-repo-check", "List the files"],
        tmp_path,
        {"CODEX_HOME": str(codex_home), "GATEWAY_KEY": "gateway-test"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The function exec_command returned" in result.stdout, result.stdout + result.stderr
    assert CLOSING in result.stdout


def test_gemini_cli_answers_with_a_tool_round_trip(gateway: RunningGateway, tmp_path: Path) -> None:
    gemini = agent("gemini")
    settings = tmp_path / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(
        '{"telemetry": {"enabled": false}, "privacy": {"usageStatisticsEnabled": false},'
        ' "general": {"disableAutoUpdate": true, "disableUpdateNag": true},'
        ' "security": {"auth": {"selectedType": "gemini-api-key"}}}'
    )
    result = run(
        [str(gemini), "-p", "List the files", "-m", "gemini-2.5-flash"],
        tmp_path,
        {
            "GEMINI_API_KEY": "gateway-test",
            "GOOGLE_GEMINI_BASE_URL": gateway.url,
            "GEMINI_CLI_NO_RELAUNCH": "1",
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"The function \w+ returned", result.stdout), result.stdout + result.stderr
    assert CLOSING in result.stdout


def test_opencode_answers_with_a_tool_round_trip(gateway: RunningGateway, tmp_path: Path) -> None:
    opencode = agent("opencode")
    # The gateway as an OpenAI-compatible provider (the AI SDK's own package, bundled in the
    # binary: nothing is fetched at run time). The models.dev catalogue, plugins, sharing, LSP
    # downloads and updates are switched off, so the run needs nothing but the gateway.
    config = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "model": "gateway/gemini-2.5-flash",
        "provider": {
            "gateway": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Gateway",
                "options": {"baseURL": f"{gateway.url}/v1", "apiKey": "gateway-test"},
                "models": {"gemini-2.5-flash": {"name": "Gemini 2.5 Flash", "tool_call": True}},
            }
        },
    }
    result = run(
        [str(opencode), "run", "List the files"],
        tmp_path,
        {
            "OPENCODE_CONFIG_CONTENT": json.dumps(config),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
            "OPENCODE_DISABLE_SHARE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The fake calls OpenCode's first tool (`bash`, with placeholder arguments that fail to run);
    # its error goes back as the tool result and the answer quotes it.
    assert "The function bash returned" in result.stdout, result.stdout + result.stderr
    assert CLOSING in result.stdout
