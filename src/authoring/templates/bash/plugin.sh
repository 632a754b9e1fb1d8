#!/usr/bin/env bash
# kplug-@NAME@: a kplug plugin (scaffolded by `kplug plugin new`).
#
# kplug runs this file with the command in KPLUG_COMMAND:
#
#   INFO  print what the plugin offers (one YAML document) and exit 0,
#         quickly and without side effects
#   EXEC  handle one lifecycle event (KPLUG_EVENT): the context is JSON on
#         stdin; print nothing or a result document on stdout; on failure
#         print an error document and exit non-zero
#   RUN   `kplug @NAME@ ARGS...`: the arguments arrive untouched (this is
#         also what happens when the file is run directly, without
#         KPLUG_COMMAND)
#
# stderr is for logs: kplug shows it, prefixed with the plugin's name.
# The protocol: https://github.com/kplug/kplug/blob/main/docs/protocol.md
set -euo pipefail

readonly VERSION=0.1.0

# An error document on stdout, then a non-zero exit. Codes 0-99 are
# reserved by the protocol (4: bad command or event); use 100+ for your own.
fail() {
  local code=$1 msg=$2
  msg=${msg//\\/\\\\}
  msg=${msg//\"/\\\"}
  printf '{"code":%d,"msg":"%s"}\n' "$code" "$msg"
  exit 1
}

info() {
  cat <<YAML
protocols: [1]
name: @NAME@
version: ${VERSION}
description: "@NAME@: a kplug plugin (describe it here)"
usage: "@NAME@ [NAME]"
hooks:
  - event: post-cluster-create
    timeout: 30s
YAML
}

exec_hook() {
  # The whole context is on stdin as JSON (read it with jq if you need more
  # than the environment gives). Reading it is optional.
  cat >/dev/null
  case "${KPLUG_EVENT:-}" in
  post-cluster-create)
    echo "cluster ${KPLUG_CLUSTER} is up (engine ${KPLUG_ENGINE}, servers: ${KPLUG_SERVERS:-none})" >&2
    printf '{"messages":["@NAME@: cluster %s is ready"]}\n' "${KPLUG_CLUSTER}"
    ;;
  *)
    fail 4 "kplug-@NAME@ does not handle the event ${KPLUG_EVENT:-<none>}"
    ;;
  esac
}

run() {
  case "${1:-}" in
  -h | --help | help)
    echo "usage: kplug @NAME@ [NAME]"
    ;;
  --version)
    echo "kplug-@NAME@ ${VERSION}"
    ;;
  *)
    echo "hello from @NAME@, ${1:-world}!"
    ;;
  esac
}

case "${KPLUG_COMMAND:-RUN}" in
INFO) info ;;
EXEC) exec_hook ;;
RUN) run "$@" ;;
*) fail 4 "kplug-@NAME@ does not know the command ${KPLUG_COMMAND}" ;;
esac
