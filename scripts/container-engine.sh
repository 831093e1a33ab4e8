#!/usr/bin/env bash
# Give this machine a Docker-compatible engine for `make images` and the image tests (root, idempotent).
# Where a Docker engine answers, nothing is done. Otherwise Podman is configured the way machine-constrained VMs
# need it (runc, cgroupfs, no rlimits; host network by default, so that containers reach services on 127.0.0.1
# as airbyte-cdk's image tests expect) and its Docker API is served on /run/podman/podman.sock, linked from
# /var/run/docker.sock, so that the docker CLI and docker-py work unchanged.
set -euo pipefail
if docker info >/dev/null 2>&1; then
    echo "container engine: docker answers"
    exit 0
fi
command -v podman >/dev/null || { echo "container engine: neither a Docker engine nor podman (apt-get install podman runc)" >&2; exit 1; }

conf=/etc/containers/containers.conf
if ! grep -qs 'runtime = "runc"' "$conf"; then
    mkdir -p "$(dirname "$conf")"
    printf '[containers]\ndefault_ulimits = []\nnetns = "host"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' > "$conf"
fi

socket=/run/podman/podman.sock
if ! docker --host "unix://$socket" info >/dev/null 2>&1; then
    mkdir -p /run/podman
    # from /, so that the service does not keep this checkout as its working folder (a removed one breaks its starts)
    (cd / && nohup podman system service --time=0 "unix://$socket" >/var/log/podman-service.log 2>&1 &)
    for _ in $(seq 100); do
        docker --host "unix://$socket" info >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
[ -e /var/run/docker.sock ] || ln -s "$socket" /var/run/docker.sock
docker info >/dev/null
echo "container engine: podman, Docker API on $socket"
