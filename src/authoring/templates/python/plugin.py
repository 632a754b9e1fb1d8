#!/usr/bin/env python3
"""kplug-@NAME@: a kplug plugin (scaffolded by `kplug plugin new`).

kplug runs this file with the command in KPLUG_COMMAND:

  INFO  print what the plugin offers (one YAML or JSON document) and exit 0,
        quickly and without side effects
  EXEC  handle one lifecycle event (KPLUG_EVENT): the context is JSON on
        stdin; print nothing or a result document on stdout; on failure
        print an error document and exit non-zero
  RUN   `kplug @NAME@ ARGS...`: the arguments arrive untouched (this is also
        what happens when the file is run directly, without KPLUG_COMMAND)

stderr is for logs: kplug shows it, prefixed with the plugin's name.
Standard library only, so the file runs wherever python3 does.
The protocol: https://github.com/kplug/kplug/blob/main/docs/protocol.md
"""

import json
import os
import sys

NAME = "@NAME@"
VERSION = "0.1.0"

# Printed as JSON (JSON is valid YAML).
INFO = {
    "protocols": [1],
    "name": NAME,
    "version": VERSION,
    "description": NAME + ": a kplug plugin (describe it here)",
    "usage": NAME + " [NAME]",
    "hooks": [
        {"event": "post-cluster-create", "timeout": "30s"},
    ],
}

# Error codes 0-99 are reserved by the protocol; use 100+ for your own.
BAD_INVOCATION = 4
DECODE = 6


class PluginError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg


def log(*args):
    print(*args, file=sys.stderr)


def post_cluster_create(ctx):
    cluster = ctx.get("cluster") or {}
    servers = [n["name"] for n in cluster.get("nodes", []) if n.get("role") == "server"]
    log("cluster {} is up (engine {}, servers: {})".format(
        cluster.get("name"), cluster.get("engine"), ", ".join(servers) or "none"))
    return {"messages": ["{}: cluster {} is ready".format(NAME, cluster.get("name"))]}


# Events this plugin handles; declare each one in INFO["hooks"] too.
HANDLERS = {
    "post-cluster-create": post_cluster_create,
}


def exec_hook():
    event = os.environ.get("KPLUG_EVENT", "")
    handler = HANDLERS.get(event)
    if handler is None:
        raise PluginError(BAD_INVOCATION, "kplug-{} does not handle the event {}".format(NAME, event or "<none>"))
    try:
        ctx = json.load(sys.stdin)
    except ValueError as e:
        raise PluginError(DECODE, "could not decode the context: {}".format(e))
    result = handler(ctx)
    if result:
        print(json.dumps(result))


def run(args):
    if args and args[0] in ("-h", "--help", "help"):
        print("usage: kplug {} [NAME]".format(NAME))
    elif args and args[0] == "--version":
        print("kplug-{} {}".format(NAME, VERSION))
    else:
        print("hello from {}, {}!".format(NAME, args[0] if args else "world"))


def main():
    command = os.environ.get("KPLUG_COMMAND", "RUN")
    try:
        if command == "INFO":
            print(json.dumps(INFO, indent=2))
        elif command == "EXEC":
            exec_hook()
        elif command == "RUN":
            run(sys.argv[1:])
        else:
            raise PluginError(BAD_INVOCATION, "kplug-{} does not know the command {}".format(NAME, command))
    except PluginError as e:
        print(json.dumps({"code": e.code, "msg": e.msg}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
