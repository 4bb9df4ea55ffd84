"""A scripted OpenAI-compatible server on loopback: the teacher `data synth` talks to in tests.

Each request's answer is picked by the `topic:` line of the user message (so concurrency does not
change which draft answers which request); every request is counted per topic.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TOPIC = re.compile(r"^- topic: (.*)$", re.MULTILINE)


@dataclass
class Script:
    """topic -> answer (str, or bytes spliced raw into the JSON body), plus failure injection."""

    answers: dict[str, str | bytes]
    fail_first: dict[str, int] = field(default_factory=dict)  # topic -> HTTP 500s before answering
    delay_s: dict[str, float] = field(default_factory=dict)
    usage: tuple[int, int] | None = (100, 50)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            user = body["messages"][-1]["content"]
            m = _TOPIC.search(user)
            topic = m.group(1).strip() if m else ""
            with script.lock:
                script.requests[topic] += 1
                n = script.requests[topic]
            time.sleep(script.delay_s.get(topic, 0.0))
            if n <= script.fail_first.get(topic, 0):
                self._send(500, b'{"error": "try again"}')
                return
            answer = script.answers.get(topic, "I'm sorry, I do not know that topic.")
            if isinstance(answer, bytes):  # raw bytes inside the JSON string: invalid UTF-8 stays invalid
                content = b'"' + answer + b'"'
            else:
                content = json.dumps(answer).encode()
            usage = (
                f', "usage": {{"prompt_tokens": {script.usage[0]}, "completion_tokens": {script.usage[1]}}}'
                if script.usage
                else ""
            )
            out = (
                b'{"id": "x", "object": "chat.completion", "model": "'
                + body["model"].encode()
                + b'", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": '
                + content
                + b"}}]"
                + usage.encode()
                + b"}"
            )
            self._send(200, out)

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_teacher(script: Script) -> Iterator[str]:
    """Serve `script` on 127.0.0.1; yields the base URL (`http://127.0.0.1:PORT/v1`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def example(
    title: str,
    code: str,
    *,
    generation: str = "all",
    type: str = "completion",
    expected: str = "## Expected Output\n\n```\nok\n```",
) -> str:
    """A draft in the training-data Markdown format."""
    return (
        f"---\ntitle: {json.dumps(title)}\ntype: {type}\ngeneration: {generation}\ndifficulty: basic\n"
        f"tags: [synthetic-test]\ndescription: {json.dumps(title + '.')}\n---\n\n## Code\n\n```bbj\n{code}\n```\n\n"
        f"{expected}\n\n## Explanation\n\nThe program shows {title.lower()}.\n"
    )
