"""`bbjcoder mcp`: an MCP server (stdio) that writes BBj with a model and checks it with our checker.

`generate_bbj_code` asks an OpenAI-compatible model, extracts the code, checks it, and feeds the
checker's diagnostics back for up to N repairs; `validate_bbj_syntax` runs the checker alone.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import urlparse

from pydantic import BaseModel

from bbjcoder.bbj import GENERATIONS, check_source, detect_generations
from bbjcoder.data.tokens import CHAT_END_TOKENS
from bbjcoder.errors import ModelError

MAX_PROMPT_CHARS = 20_000
MAX_CODE_CHARS = 200_000
MODEL_ENV = "BBJCODER_MCP_MODEL"  # model SPEC when --model is not given
DEFAULT_MAX_REPAIRS = 2

# Said again in the user turn, in more words than data.convert.GENERATION_NAMES (the system
# prompt's): a tool caller's request may pull the model away from the system prompt's target.
_GENERATION_NAMES = {
    "character": "character-mode Business BASIC (line-numbered, terminal I/O)",
    "vpro5": "Visual PRO/5 (SYSGUI channel and mnemonics)",
    "bbj-gui": "BBj GUI (BBjAPI objects, BBjSysGui windows, callbacks)",
    "dwc": "DWC, the browser-based Dynamic Web Client (BBjAPI controls in the browser)",
}


class DiagnosticOut(BaseModel):
    line: int
    column: int
    message: str


class ValidationResult(BaseModel):
    """The checker's verdict: ok when there are no diagnostics."""

    ok: bool
    diagnostics: list[DiagnosticOut]


class GenerationResult(BaseModel):
    """Generated code, the checker's verdict on it, and how many model calls it took."""

    code: str
    ok: bool
    diagnostics: list[DiagnosticOut]
    attempts_used: int
    generation: str


@dataclass(frozen=True)
class ModelEndpoint:
    """An OpenAI-compatible chat endpoint."""

    model: str
    base_url: str
    api_key: str
    timeout_s: float = 120.0
    max_tokens: int = 1024
    temperature: float = 0.2


def endpoint_from_spec(
    spec: str | None, *, timeout_s: float | None = None, max_tokens: int | None = None
) -> ModelEndpoint:
    """`openai:MODEL@BASE_URL` (or $BBJCODER_MCP_MODEL). The key is BBJCODER_API_KEY for a bbjcoder
    (or any non-OpenAI) server and OPENAI_API_KEY only for api.openai.com: a developer's OpenAI key
    never goes to a local model server. Timeout and token cap default from `default_limits`."""
    from bbjcoder.evaluate.generate import api_key_for, parse_spec

    spec = spec or os.environ.get(MODEL_ENV)
    if not spec:
        raise ModelError(
            "no model configured for the MCP server",
            hint=f"pass --model openai:MODEL@http://127.0.0.1:8000/v1 or set {MODEL_ENV}",
        )
    parsed = parse_spec(spec)
    if parsed.kind != "openai" or parsed.base_url is None:
        raise ModelError(
            f"the MCP server talks to an OpenAI-compatible server: use openai:MODEL@BASE_URL, not {spec!r}",
            hint="start one with `bbjcoder serve --model run:ID`, then --model openai:bbj-coder@http://127.0.0.1:8000/v1",
        )
    auto_timeout, auto_tokens = default_limits(parsed.target, parsed.base_url)
    return ModelEndpoint(
        parsed.target,
        parsed.base_url,
        api_key_for(parsed.base_url),
        timeout_s=timeout_s if timeout_s is not None else auto_timeout,
        max_tokens=max_tokens if max_tokens is not None else auto_tokens,
    )


def _has_gpu() -> bool:
    # Without importing torch: the NVIDIA driver's proc file (Linux) or a Metal-capable Mac.
    return Path("/proc/driver/nvidia/version").exists() or sys.platform == "darwin"


def default_limits(model: str, base_url: str, *, gpu: bool | None = None) -> tuple[float, int]:
    """(request timeout in s, max tokens) for a model name and server: 120 s and 1,024 tokens, except
    on a local server without a GPU, where a larger model (size read from the name: `14b`, `7b`)
    gets more time per request (40 s per billion parameters, at most 900 s) and, from 7B on, 512
    tokens, so one tool call still answers within the client's patience."""
    host = (urlparse(base_url).hostname or "").lower()
    local = host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
    if not local or (_has_gpu() if gpu is None else gpu):
        return 120.0, 1024
    m = re.search(r"(\d+(?:\.\d+)?)\s*b\b", model.lower())
    size_b = float(m.group(1)) if m else 0.5
    return min(900.0, max(120.0, 40.0 * size_b)), (512 if size_b >= 7 else 1024)


def _diagnostics(code: str) -> list[DiagnosticOut]:
    return [DiagnosticOut(line=d.line, column=d.column, message=d.message) for d in check_source(code)]


def _user_message(prompt: str, generation: str | None, context_code: str | None) -> str:
    parts = [prompt.strip()]
    if generation:
        parts.append(f"Target generation: {_GENERATION_NAMES[generation]}.")
    if context_code:
        parts.append(
            "Surrounding code (match its generation and style):\n```bbj\n" + context_code.rstrip() + "\n```"
        )
    parts.append("Answer with the complete BBj code in one ```bbj fenced block.")
    return "\n\n".join(parts)


def _repair_message(diags: list[DiagnosticOut]) -> str:
    listed = "\n".join(f"- line {d.line}, column {d.column}: {d.message}" for d in diags[:30])
    more = f"\n(and {len(diags) - 30} more)" if len(diags) > 30 else ""
    return (
        "The BBj syntax checker rejected that code:\n"
        f"{listed}{more}\n\n"
        "Fix these errors and answer with the whole corrected program in one ```bbj fenced block."
    )


def _infer_generation(generation: str | None, context_code: str | None) -> str:
    if generation:
        return generation
    if context_code:
        found = [g for g in GENERATIONS if g in detect_generations(context_code)]
        if found:
            return found[-1]  # the most modern generation the surrounding code uses
    return "dwc"  # new code: modern DWC, as the system prompt says


def build_server(endpoint: ModelEndpoint | None, *, max_repairs: int = DEFAULT_MAX_REPAIRS) -> Any:
    """The MCPServer with both tools; `endpoint=None` serves validation only (generation errors)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from bbjcoder.data.convert import system_prompt
    from bbjcoder.evaluate.extract import extract_code, has_statements

    server = MCPServer(
        name="bbjcoder",
        instructions="Write and check BBj (BASIS Business BASIC) code. generate_bbj_code returns code "
        "that passed the BBj syntax checker when ok is true; validate_bbj_syntax checks code you have.",
    )

    @server.tool()
    def validate_bbj_syntax(code: str) -> ValidationResult:
        """Check BBj source with the BBj syntax checker; returns ok and diagnostics (1-based line/column)."""
        if len(code) > MAX_CODE_CHARS:
            raise ToolError(f"code is {len(code)} characters; the limit is {MAX_CODE_CHARS}")
        diags = _diagnostics(code)
        return ValidationResult(ok=not diags, diagnostics=diags)

    @server.tool()
    async def generate_bbj_code(
        prompt: str, generation: str | None = None, context_code: str | None = None
    ) -> GenerationResult:
        """Write BBj code for `prompt` and check it, repairing syntax errors with the model.

        generation: character | vpro5 | bbj-gui | dwc (default: that of context_code, else dwc).
        context_code: surrounding code the answer must fit (its generation and style are matched).
        """
        if not prompt.strip():
            raise ToolError("prompt is empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ToolError(f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
        if context_code is not None and len(context_code) > MAX_CODE_CHARS:
            raise ToolError(f"context_code is {len(context_code)} characters; the limit is {MAX_CODE_CHARS}")
        if generation is not None and generation not in GENERATIONS:
            raise ToolError(f"unknown generation {generation!r}; use one of {', '.join(GENERATIONS)}")
        if endpoint is None:
            raise ToolError("no model configured: start bbjcoder mcp with --model openai:MODEL@BASE_URL")

        import openai

        chosen = _infer_generation(generation, context_code)
        client = openai.AsyncOpenAI(
            base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=endpoint.timeout_s, max_retries=1
        )
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system_prompt([chosen])},
            {"role": "user", "content": _user_message(prompt, chosen, context_code)},
        ]
        code, diags, attempts = "", [DiagnosticOut(line=1, column=1, message="no code")], 0
        try:
            while attempts < max_repairs + 1:
                attempts += 1
                try:
                    reply = await client.chat.completions.create(
                        model=endpoint.model,
                        messages=messages,  # type: ignore[arg-type]
                        temperature=endpoint.temperature,
                        max_tokens=endpoint.max_tokens,
                        # The chat's end tokens, named: a server whose model config knows only
                        # <|endoftext|> (a Base checkpoint) would otherwise run to max_tokens.
                        stop=list(CHAT_END_TOKENS),
                    )
                except openai.APIError as exc:
                    raise ToolError(f"model server error ({endpoint.base_url}): {exc}") from exc
                text = (reply.choices[0].message.content or "") if reply.choices else ""
                code = extract_code(text, "bbj")
                diags = (
                    _diagnostics(code)
                    if has_statements(code)
                    else [DiagnosticOut(line=1, column=1, message="the reply contained no BBj statement")]
                )
                if not diags:
                    break
                messages += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": _repair_message(diags)},
                ]
        finally:
            await client.close()
        return GenerationResult(
            code=code, ok=not diags, diagnostics=diags, attempts_used=attempts, generation=chosen
        )

    return server


# --- stdio transport: every request line gets an answer ---------------------------------------------

PARSE_ERROR, INVALID_REQUEST = -32700, -32600


class ErrorObject(TypedDict):
    code: int
    message: str


class JsonRpcError(TypedDict):
    """A JSON-RPC 2.0 error response."""

    jsonrpc: Literal["2.0"]
    id: int | str | None
    error: ErrorObject


def jsonrpc_error_for(line: str) -> JsonRpcError | None:
    """The JSON-RPC error response for a line the MCP SDK would drop without a reply, or None.

    Malformed JSON gets a parse error (id null); valid JSON that is not a JSON-RPC message, or
    carries a lone surrogate (not encodable as UTF-8), gets an invalid-request error with its id.
    """
    import mcp_types as types

    try:
        obj = json.loads(line)
    except ValueError as exc:
        return _error(None, PARSE_ERROR, f"Parse error: {exc}")
    msg_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(msg_id, int | str) or isinstance(msg_id, bool):
        msg_id = None
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return _error(msg_id, INVALID_REQUEST, "Invalid Request: a string holds a lone surrogate (not UTF-8)")
    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _error(msg_id, INVALID_REQUEST, f"Invalid Request: not a JSON-RPC 2.0 message ({first})")
    return None


def _error(msg_id: int | str | None, code: int, message: str) -> JsonRpcError:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


class _CheckedLines:
    """stdin lines for the SDK's reader; lines it would drop are answered through `reply` instead."""

    def __init__(self, lines: Any, reply: Callable[[JsonRpcError], Awaitable[None]]) -> None:
        self.lines, self.reply = lines, reply

    def __aiter__(self) -> AsyncIterator[str]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[str]:
        async for line in self.lines:
            if not line.strip():
                continue
            error = jsonrpc_error_for(line)
            if error is None:
                yield line
            else:
                await self.reply(error)


async def _serve_stdio(server: Any) -> None:
    import io

    import anyio
    import mcp_types as types
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    ready = anyio.Event()
    writer: list[Any] = []

    async def reply(error: JsonRpcError) -> None:
        await ready.wait()
        await writer[0].send(SessionMessage(types.JSONRPCError.model_validate(error)))

    raw = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdin = _CheckedLines(anyio.wrap_file(raw), reply)
    lowlevel = server._lowlevel_server  # MCPServer.run_stdio_async, with our checked stdin
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]
        writer.append(write_stream)
        ready.set()
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def run_stdio(
    spec: str | None,
    *,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    timeout_s: float | None = None,
    max_tokens: int | None = None,
) -> None:
    """Serve MCP over stdin/stdout until the client disconnects (blocking)."""
    import anyio

    if max_repairs < 0:
        raise ModelError("--max-repairs must be 0 or more")
    endpoint = endpoint_from_spec(spec, timeout_s=timeout_s, max_tokens=max_tokens)
    print(
        f"bbjcoder mcp: model {endpoint.model} at {endpoint.base_url}; request timeout "
        f"{endpoint.timeout_s:g} s, max {endpoint.max_tokens} tokens, {max_repairs} repairs",
        file=sys.stderr,
        flush=True,
    )
    anyio.run(_serve_stdio, build_server(endpoint, max_repairs=max_repairs))
