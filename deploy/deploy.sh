#!/usr/bin/env bash
# Deploys formd with Docker Compose: build and tag the image, back up the
# data, migrate the schema, replace the container, check its health. On a
# failed health check it rolls back (deploy/rollback.sh) unless --no-rollback.
#
#   deploy/deploy.sh [--tag TAG] [--no-build] [--no-rollback]
#
# Environment: FORMD_PROFILES (e.g. "monitoring proxy"), FORMD_IMAGE (formd),
# FORMD_HEALTH_TIMEOUT (120 s), FORMD_BACKUP_DIR (deploy/backups). Migrations
# run while the previous release still serves, so each release's migrations
# must keep the previous release working (expand now, contract a release later).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

tag='' build=1 rollback=1
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-rollback) rollback=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
repo=$(cd "$here/.." && pwd)
revision=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -n "$tag" ] || tag=$revision-$(date -u +%Y%m%d%H%M%S)

# 1. The configuration must be whole before anything changes.
FORMD_TAG=$tag dc config -q || die "compose configuration is invalid"

# 2. Build and tag.
if [ "$build" -eq 1 ]; then
  say "building $image:$tag"
  docker build -f "$here/Dockerfile" -t "$image:$tag" \
    --build-arg "VERSION=$tag" --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$repo"
fi
docker image inspect "$image:$tag" >/dev/null || die "no image $image:$tag"

# 3. What runs now, so that rollback.sh can return to it.
read -r cur_tag cur_version <<<"$(read_state current)" || true
cid=$(formd_container)
if [ -n "$cid" ] && [ -z "${cur_tag:-}" ]; then
  # Deployed by hand before: the tag of the image the container runs.
  cur_tag=$(docker inspect --format '{{.Config.Image}}' "$cid")
  cur_tag=${cur_tag##*:}
fi
if [ -n "$cid" ] && [ -n "${cur_tag:-}" ]; then
  cur_version=$(schema_version_of "$cur_tag")
  write_state previous "$cur_tag" "$cur_version"
  say "previous release: $cur_tag, schema version $cur_version"
fi

# 4. Back up (a no-op on the first deploy).
file=$(backup_running "pre-deploy-$tag.backup")
[ -n "$file" ] && say "backup: $file"

# 5. Migrate with the new image, while the old release still serves.
say "migrating the schema with $image:$tag"
FORMD_TAG=$tag dc run --rm --no-deps -T formd migrate up

# 6. Replace (the other services of the enabled profiles too).
say "starting $image:$tag"
FORMD_TAG=$tag dc up -d --no-build --remove-orphans

# 7. Health.
if wait_healthy; then
  write_state current "$tag" "$(schema_version_of "$tag")"
  say "deployed $image:$tag"
  exit 0
fi
if [ "$rollback" -eq 1 ] && [ -r "$state_dir/previous" ]; then
  say "health check failed: rolling back"
  FORMD_STATE_NEW_TAG=$tag "$here/rollback.sh"
fi
die "deploy of $image:$tag failed"
