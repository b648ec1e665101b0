#!/usr/bin/env python3
"""App Factory's round trip through Airlock, in the style of its plugin guide: JSON-RPC 2.0
over the stdio of a plugin host (`airlock serve --stdio`), `plugin/load`, `plugin/enable`,
`plugin/call {plugin, method, args}` and `plugin/health` (standard library only).

    python3 client.py --airlock PATH --registry DB --policy FILE --plugins DIR --llm-url URL

`DIR` holds the three plugin folders (`tts-espeak`, `stt-pocketsphinx` with its `scratch/`,
`llm-openai`); `URL` is an OpenAI-compatible server (`openai_server.py`). The client speaks
"hello world" with TTS, transcribes the audio with STT, and streams an LLM completion of the
transcript chunk by chunk (`"progress": true`: the host sends `$/progress` notifications
before the response). It prints one JSON object per line, a `step` in each:
`synthesize` (bytes of WAV), `transcribe` (text), `chunk` (each piece as it arrives),
`complete` (the whole text), `health` (each plugin's status, latency and memory). Exits 0
when every step worked, 1 with an `error` line otherwise.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys


class PluginHost:
    """JSON-RPC 2.0, newline-delimited, over the pipes of `airlock serve --stdio`."""

    def __init__(self, command):
        self.child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ids = itertools.count(1)

    def request(self, rpc_method, params, on_progress=None):
        request_id = next(self.ids)
        if on_progress:
            params = dict(params, progress=True)
        message = {"jsonrpc": "2.0", "id": request_id, "method": rpc_method, "params": params}
        self.child.stdin.write(json.dumps(message) + "\n")
        self.child.stdin.flush()
        while True:
            line = self.child.stdout.readline()
            if not line:
                raise RuntimeError("the plugin host closed the connection")
            reply = json.loads(line)
            if reply.get("method") == "$/progress" and reply["params"]["id"] == request_id:
                on_progress(reply["params"])
                continue
            assert reply.get("id") == request_id, reply
            if "error" in reply:
                raise PluginError(reply["error"])
            return reply["result"]

    def call(self, plugin, method, on_progress=None, **args):
        """App Factory's `plugin/call`."""
        return self.request("plugin/call", {"plugin": plugin, "method": method, "args": args}, on_progress)

    def close(self):
        self.child.stdin.close()
        return self.child.wait(timeout=30)


class PluginError(Exception):
    """A JSON-RPC error; a plugin's own error carries App Factory's code in `data.code`."""

    def __init__(self, error):
        super().__init__(f"{error['code']}: {error['message']}")
        self.error = error


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airlock", default="airlock")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--plugins", required=True, help="the folder holding the three plugin folders")
    parser.add_argument("--llm-url", required=True, help="http://127.0.0.1:PORT/v1")
    args = parser.parse_args()
    host = PluginHost([args.airlock, "serve", "--stdio", "--no-watch",
                       "--registry", args.registry, "--policy", args.policy])
    configs = {
        "tts-espeak": {"voice": "en-us"},
        "stt-pocketsphinx": {"scratch_dir": os.path.join(args.plugins, "stt-pocketsphinx", "scratch")},
        "llm-openai": {"base_url": args.llm_url},
    }
    try:
        for name, config in configs.items():
            host.request("plugin/load", {"path": os.path.join(args.plugins, name)})
            host.request("plugin/enable", {"plugin": name, "config": config})

        audio = host.call("tts-espeak", "synthesize", text="hello world")  # base64 WAV
        emit(step="synthesize", bytes=len(audio) * 3 // 4)
        text = host.call("stt-pocketsphinx", "transcribe", audio=audio, language="en-US")
        emit(step="transcribe", text=text)

        def on_chunk(event):
            if event["kind"] == "chunk":
                emit(step="chunk", text=event["chunk"])

        completion = host.call("llm-openai", "stream-complete", on_progress=on_chunk, prompt=text)
        emit(step="complete", text=completion)

        for name in configs:
            health = host.request("plugin/health", {"plugin": name})
            emit(step="health", plugin=name, status=health["report"]["status"],
                 latency_ms=health["usage"]["latency_ms"], memory_mb=health["usage"]["memory_mb"])
    except PluginError as error:
        emit(step="error", error=error.error)
        return 1
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
