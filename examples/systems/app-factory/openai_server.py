#!/usr/bin/env python3
"""A small local server speaking the OpenAI-compatible chat-completions protocol, for the
`llm-openai` example plugin's tests and demo (standard library only).

    python3 openai_server.py [--port 0]

Prints `http://127.0.0.1:PORT/v1` on its first line once it listens, then serves until
killed:

- `GET /v1/models`: one model, `tiny-echo`.
- `POST /v1/chat/completions`: the `tiny-echo` model answers `You said: <the last user
  message>`, cut to `max_tokens` words. With `"stream": true` the answer comes as
  server-sent events, one word per `data:` event (50 ms apart, as tokens come), then
  `data: [DONE]` (the protocol's streaming format). Any other model is a 404 with the
  error code `model_not_found`, as OpenAI answers.
"""

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "tiny-echo"
MAX_REQUEST = 1 << 20


def words_of(request):
    messages = request.get("messages") or []
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    words = f"You said: {last}".split()
    return words[: max(1, int(request.get("max_tokens") or 1024))]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "airlock-examples"}]})
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if self.path != "/v1/chat/completions" or length > MAX_REQUEST:
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model")
        if model != MODEL:
            self.send_json(404, {"error": {
                "message": f"The model `{model}` does not exist",
                "type": "invalid_request_error", "code": "model_not_found"}})
            return
        words = words_of(request)
        if request.get("stream"):
            self.stream(words)
            return
        text = " ".join(words)
        self.send_json(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(json.dumps(request.get("messages")).split()),
                      "completion_tokens": len(words), "total_tokens": 0},
        })

    def stream(self, words):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.chunk(f"data: {json.dumps(chunk)}\n\n")
            time.sleep(0.05)
        self.chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
