"""The HTTP app of `bbjcoder serve`: OpenAI-compatible chat and completions in front of llama.cpp.

Our own small FastAPI app, so that what is served acts like what was trained and measured: the BBj
system prompt unless the request brings one, FIM prompts from `bbjcoder.data.fim`, generation ended
by the model's own end-token ids, OpenAI-style errors (never a traceback or a file path), and
requests that cannot fit the context refused before any token is generated.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bbjcoder.data.fim import FIM_STOPS, fim_prompt
from bbjcoder.data.tokens import CHAT_END_TOKENS
from bbjcoder.evaluate.llamacpp import Engine

DEFAULT_MAX_TOKENS = 512
# A stop string shaped like a control token (`</s>`, `<|eot_id|>`, `[/INST]`) belongs to another
# model family's template: our model ends on its own token ids, and such text can be real output
# (`</s>` is HTML in DWC code), so these are dropped from requests.
_FOREIGN_STOP = re.compile(r"^(<[^<>\s]+>|\[/?INST\])$")


def usable_stops(stop: str | Sequence[str] | None) -> list[str]:
    """The request's stop strings without control-token look-alikes (see _FOREIGN_STOP)."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    return [s for s in stops if s and not _FOREIGN_STOP.match(s.strip())]


@dataclass
class ServedModel:
    engine: Engine
    alias: str
    system_prompt: str
    api_key: str | None = None


# --- response bodies (the OpenAI API's JSON shapes) ------------------------------------------------


class ModelEntry(TypedDict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[ModelEntry]


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(TypedDict):
    role: str
    content: str


class ChatChoice(TypedDict):
    index: int
    message: AssistantMessage
    finish_reason: str


class Delta(TypedDict, total=False):
    role: str
    content: str


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    finish_reason: str | None


class TextChoice(TypedDict):
    index: int
    text: str
    logprobs: None
    finish_reason: str | None


class Completion(TypedDict):
    """A whole answer (`chat.completion` or `text_completion`); a streamed chunk has no usage."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice] | list[TextChoice]
    usage: Usage


class Chunk(TypedDict):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice] | list[TextChoice]


# --- request bodies -------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]  # OpenAI's content parts: text only (editors send this form too)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatBody(_Body):
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionBody(_Body):
    prompt: str
    suffix: str | None = None  # with a suffix: fill in the middle (the model's FIM prompt)


# --- errors ---------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_response(status: int, message: str, *, code: str, param: str | None = None) -> JSONResponse:
    """An error as OpenAI's API writes it: {"error": {message, type, param, code}}."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request body", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    where = ".".join(loc)
    return (f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))), where or None


# --- the app --------------------------------------------------------------------------------------


def create_app(served: ServedModel) -> FastAPI:
    """The FastAPI app serving `served` under /v1. Every route, /docs and /openapi.json included,
    needs the API key when one is set."""
    app = FastAPI(title="bbjcoder serve", version="1")
    lock = threading.Lock()  # llama.cpp contexts are not thread-safe: one generation at a time

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Response:
        if served.api_key:
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode(), served.api_key.encode()):
                return error_response(401, "missing or wrong API key (send Authorization: Bearer KEY)",
                                      code="invalid_api_key")  # fmt: skip
        return await call_next(request)  # type: ignore[no-any-return]

    @app.exception_handler(RequestValidationError)
    async def bad_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, code="invalid_request", param=param)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, code=exc.code, param=exc.param)

    @app.exception_handler(Exception)
    async def internal(_request: Request, _exc: Exception) -> JSONResponse:
        # No exception text: it may carry file paths of the server machine.
        return error_response(500, "internal error while generating", code="internal_error")

    # response_model=None: the TypedDicts describe the JSON for mypy; FastAPI needs no model of it
    @app.get("/v1/models", response_model=None)
    def list_models() -> ModelList:
        return {"object": "list", "data": [_model_entry(served.alias)]}

    @app.get("/v1/models/{name}", response_model=None)
    def get_model(name: str) -> ModelEntry:
        _check_model(served, name)
        return _model_entry(served.alias)

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatBody) -> Completion | StreamingResponse:
        _check_model(served, body.model)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        if not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": served.system_prompt})
        prompt = _fit(served.engine, served.engine.render_chat(messages), body.max_tokens)
        end_ids = served.engine.end_ids(CHAT_END_TOKENS)
        return _respond(served, lock, body, prompt, end_ids, chat=True)

    @app.post("/v1/completions", response_model=None)
    def completions(body: CompletionBody) -> Completion | StreamingResponse:
        _check_model(served, body.model)
        if body.suffix is not None:
            text, ends = fim_prompt(body.prompt, body.suffix), FIM_STOPS
        else:
            text, ends = body.prompt, CHAT_END_TOKENS
        prompt = _fit(served.engine, text, body.max_tokens)
        return _respond(served, lock, body, prompt, served.engine.end_ids(ends), chat=False)

    return app


def _model_entry(alias: str) -> ModelEntry:
    return {"id": alias, "object": "model", "created": 0, "owned_by": "bbjcoder"}


def _check_model(served: ServedModel, name: str | None) -> None:
    if name and name != served.alias:
        raise ApiError(
            404,
            f"The model `{name}` does not exist; this server serves `{served.alias}` (see /v1/models)",
            code="model_not_found",
            param="model",
        )


def _fit(engine: Engine, text: str, max_tokens: int | None) -> list[int]:
    """The prompt's tokens, or a 400 when the prompt leaves no room for a reply in the context
    (checked before generating; a prompt far too long is refused by its size alone, without
    tokenizing it). A larger max_tokens than the room left is cut to it, as llama.cpp's server does."""
    budget = engine.n_ctx - 1
    if len(text.encode("utf-8")) > max(budget, 0) * max(engine.max_token_bytes, 1) + 64:
        raise _too_long(engine, f"more than {engine.n_ctx}")
    tokens = engine.tokenize(text)
    if len(tokens) > budget:
        raise _too_long(engine, str(len(tokens)))
    return tokens


def _too_long(engine: Engine, n_prompt: str) -> ApiError:
    return ApiError(
        400,
        f"this model's context is {engine.n_ctx} tokens; the prompt has {n_prompt} tokens. "
        "Shorten the prompt (or restart the server with a larger --n-ctx).",
        code="context_length_exceeded",
        param="messages",
    )


def _respond(
    served: ServedModel,
    lock: threading.Lock,
    body: _Body,
    prompt: list[int],
    end_ids: list[int],
    *,
    chat: bool,
) -> Completion | StreamingResponse:
    engine = served.engine
    max_tokens = min(body.max_tokens or DEFAULT_MAX_TOKENS, engine.n_ctx - len(prompt))
    generate = partial(
        engine.generate,
        prompt,
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=usable_stops(body.stop),
        end_ids=end_ids,
        seed=body.seed,
    )
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.stream:
        chunks = _stream(generate, lock, rid, created, served.alias, chat)
        return StreamingResponse(chunks, media_type="text/event-stream")
    with lock:
        pieces = list(generate())
    text = "".join(p for p, _ in pieces)
    finish = next((r for _, r in reversed(pieces) if r), "length")
    n_out = sum(1 for p, r in pieces if r is None)  # one piece per generated token (before the end)
    usage: Usage = {
        "prompt_tokens": len(prompt),
        "completion_tokens": n_out,
        "total_tokens": len(prompt) + n_out,
    }
    choices: list[ChatChoice] | list[TextChoice]
    if chat:
        message: AssistantMessage = {"role": "assistant", "content": text}
        choices = [ChatChoice(index=0, message=message, finish_reason=finish)]
    else:
        choices = [TextChoice(index=0, text=text, logprobs=None, finish_reason=finish)]
    obj = "chat.completion" if chat else "text_completion"
    return {
        "id": rid,
        "created": created,
        "model": served.alias,
        "object": obj,
        "choices": choices,
        "usage": usage,
    }


def _stream(
    generate: Callable[[], Iterator[tuple[str, str | None]]],
    lock: threading.Lock,
    rid: str,
    created: int,
    model: str,
    chat: bool,
) -> Iterator[str]:
    obj = "chat.completion.chunk" if chat else "text_completion"

    def event(delta: str | None, finish: str | None, first: bool = False) -> str:
        choices: list[ChunkChoice] | list[TextChoice]
        if chat:
            d: Delta = {"role": "assistant", "content": ""} if first else {}
            if delta:
                d["content"] = delta
            choices = [ChunkChoice(index=0, delta=d, finish_reason=finish)]
        else:
            choices = [TextChoice(index=0, text=delta or "", logprobs=None, finish_reason=finish)]
        chunk: Chunk = {"id": rid, "created": created, "model": model, "object": obj, "choices": choices}
        return "data: " + json.dumps(chunk) + "\n\n"

    with lock:
        if chat:
            yield event(None, None, first=True)
        finish = "length"
        for piece, reason in generate():
            if piece:
                yield event(piece, None)
            if reason:
                finish = reason
        yield event(None, finish)
    yield "data: [DONE]\n\n"
