#!/usr/bin/env bash
# The OCI bench (benches/oci.rs): installs what it compares against when
# missing (the distribution registry, curl, skopeo), then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v curl >/dev/null || missing+=(curl)
command -v skopeo >/dev/null || missing+=(skopeo)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
exec cargo bench --bench oci
