#!/usr/bin/env python3
"""Use Airlock plugins from Python with nothing but the standard library.

Starts `airlock serve --stdio` as a child process and speaks newline-delimited JSON-RPC 2.0
to it: lists the tools enabled for a tenant and calls one.

    python3 airlock_client.py [--airlock PATH] [--registry DB] [--policy FILE] \
        [--tenant T] [--call plugin.tool '{"arg": 1}']

Prints one JSON object per line: the tool list, then the call's result (or its error).
Exits 0 when the call succeeded (or none was asked for), 1 when it failed. Settings not
given fall back to airlock's own (`airlock config show`).
"""

import argparse
import itertools
import json
import subprocess
import sys


class Airlock:
    """A JSON-RPC client over the pipes of an `airlock serve --stdio` child."""

    def __init__(self, command):
        self.child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ids = itertools.count(1)

    def request(self, method, **params):
        request_id = next(self.ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        self.child.stdin.write(json.dumps(message) + "\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("airlock closed the connection")
        reply = json.loads(line)
        assert reply["id"] == request_id, reply
        if "error" in reply:
            raise AirlockError(reply["error"])
        return reply["result"]

    def close(self):
        self.child.stdin.close()
        return self.child.wait(timeout=30)


class AirlockError(Exception):
    def __init__(self, error):
        super().__init__(f"{error['code']}: {error['message']}")
        self.error = error


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airlock", default="airlock", help="the airlock binary")
    parser.add_argument("--registry", help="the registry database")
    parser.add_argument("--policy", help="the operator policy (TOML)")
    parser.add_argument("--tenant", help="the tenant (default: airlock's)")
    parser.add_argument("--call", nargs=2, metavar=("TOOL", "ARGUMENTS"))
    args = parser.parse_args()

    command = [args.airlock, "serve", "--stdio", "--no-watch"]
    for flag, value in (("--tenant", args.tenant), ("--registry", args.registry), ("--policy", args.policy)):
        if value:
            command += [flag, value]
    airlock = Airlock(command)
    status = 0
    try:
        tools = airlock.request("tool/list")["tools"]
        print(json.dumps({"tools": [t["name"] for t in tools]}))
        if args.call:
            tool, arguments = args.call[0], json.loads(args.call[1])
            try:
                print(json.dumps({"result": airlock.request("tool/call", tool=tool, arguments=arguments)}))
            except AirlockError as e:
                print(json.dumps({"error": e.error}))
                status = 1
    finally:
        airlock.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
