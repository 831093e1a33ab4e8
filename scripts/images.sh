#!/usr/bin/env bash
# Build the image of every connector (or of the connector folders given as arguments) from wheels made on the
# host, so that the build itself needs no network. Tags: <dockerRepository>:dev and :<dockerImageTag> from each
# metadata.yaml. ENGINE picks podman or docker (default: podman where installed); BASE_IMAGE the Python base
# (default the public python:3.11-slim; where it can be neither found nor pulled, a local Debian base is made).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
ENGINE=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/python:3.11-slim}
LOCAL_BASE=localhost/python-base:bookworm
# Reproducible wheels of our own packages (fixed timestamps): unchanged code gives the same bytes, so the
# engine's layer cache skips rebuilding an image whose code did not change.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}

has_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

if ! has_image "$BASE_IMAGE" && ! "$ENGINE" pull --quiet "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "images: $BASE_IMAGE cannot be pulled here; using a local Debian base, $LOCAL_BASE" >&2
    BASE_IMAGE=$LOCAL_BASE
    has_image "$BASE_IMAGE" || bash scripts/base-image.sh "$ENGINE" "$BASE_IMAGE"
fi

if [ $# -eq 0 ]; then
    set -- $(ls -d sources/source-* destinations/destination-* | grep -v -- '-core$')
fi
for dir in "$@"; do
    dir=${dir%/}
    name=$(basename "$dir")
    repository=$(awk '/dockerRepository:/ {print $2}' "$dir/metadata.yaml")
    version=$(awk '/dockerImageTag:/ {print $2}' "$dir/metadata.yaml")
    context=build/images/$name
    rm -rf "$context"
    # (this machine's pip configuration names local wheel folders that may be absent: drop those warnings)
    "$PIP" wheel --quiet --wheel-dir "$context/wheels" "./$dir" 2> >(grep -v "^WARNING: Location" >&2)
    "$ENGINE" build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" --file "$dir/Dockerfile" \
        --tag "$repository:dev" --tag "$repository:$version" "$context" >/dev/null
    echo "images: built $repository:dev ($version) from $dir"
done
"$ENGINE" image prune --force >/dev/null   # the untagged build stages
