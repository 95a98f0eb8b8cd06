#!/usr/bin/env bash
# Installs the coding-agent CLIs tests/e2e/test_agent_clis.py runs against the gateway, at pinned
# versions, into ~/.cache/gemini-gateway/agents (outside the clone, so a machine installs them once,
# not once per clone; AGENTS_PREFIX moves it). Skips with a reason, never fails the run, when node
# or the npm registry is out of reach: those tests then skip too.
set -uo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  "@anthropic-ai/claude-code@2.1.332"
  "@openai/codex@0.171.0"
  "@google/gemini-cli@0.61.0"
  "opencode-ai@1.18.33"
)
PREFIX="${AGENTS_PREFIX:-$HOME/.cache/gemini-gateway/agents}"

if ! command -v npm >/dev/null 2>&1; then
  echo "test-agents: npm not found; the agent CLI tests will skip" >&2
  exit 0
fi
stamp="$PREFIX/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ]; then
  exit 0
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error "${PACKAGES[@]}" >&2; then
  echo "test-agents: npm install failed (registry unreachable?); the agent CLI tests will skip" >&2
  exit 0
fi
echo "${PACKAGES[*]}" > "$stamp"
