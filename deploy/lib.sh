# shellcheck shell=bash
# Helpers shared by deploy.sh and rollback.sh (sourced, not run).
#
# State kept beside this file in .state/ (not in git):
#   current   the image tag in service and its schema version: "TAG VERSION"
#   previous  the same for the release before it (what rollback.sh returns to)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# NAME's value from deploy/.env (where Compose reads it too), unless the
# environment sets it: the environment wins, as for Compose.
from_env_file() {
  [ -n "${!1+set}" ] && return 0
  [ -r "$here/.env" ] || return 0
  local v
  v=$(sed -n "s/^$1=//p" "$here/.env" | tail -n1)
  v=${v%\"}; v=${v#\"}
  printf -v "$1" '%s' "$v"
}
from_env_file FORMD_PROFILES
from_env_file FORMD_IMAGE
state_dir=${FORMD_STATE_DIR:-$here/.state}
backup_dir=${FORMD_BACKUP_DIR:-$here/backups}
image=${FORMD_IMAGE:-formd}
health_timeout=${FORMD_HEALTH_TIMEOUT:-120}
export FORMD_IMAGE=$image

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "$*"; exit 1; }

# docker compose v2 if there, else docker-compose v1; profiles from
# FORMD_PROFILES (space-separated, e.g. "monitoring proxy").
compose_cmd=()
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is installed"
fi
compose_cmd+=(-f "$here/compose.yaml")
for p in ${FORMD_PROFILES:-}; do compose_cmd+=(--profile "$p"); done
dc() { "${compose_cmd[@]}" "$@"; }

# The id of the running formd container, or nothing.
formd_container() { dc ps -q formd 2>/dev/null | head -n1; }

# "version N of M" -> N, from the formd of image tag $1 (one-off container).
schema_version_of() {
  FORMD_TAG=$1 dc run --rm --no-deps -T formd migrate status | sed -n 's/^version \([0-9]*\) of [0-9]*$/\1/p'
}

# Waits until the formd container reports healthy; 1 if it does not in time.
wait_healthy() {
  local cid status deadline=$((SECONDS + health_timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    cid=$(formd_container)
    if [ -n "$cid" ]; then
      status=$(docker inspect --format '{{.State.Health.Status}}' "$cid" 2>/dev/null || echo unknown)
      [ "$status" = healthy ] && return 0
      [ "$status" = unhealthy ] && break
    fi
    sleep 2
  done
  say "formd is not healthy: $(docker inspect --format '{{.State.Health.Status}}' "${cid:-none}" 2>/dev/null || echo 'no container')"
  [ -n "${cid:-}" ] && docker logs --tail 30 "$cid" >&2
  return 1
}

# Backs up the data of the running formd into $backup_dir; prints the file.
backup_running() {
  local name=$1 cid
  cid=$(formd_container)
  [ -n "$cid" ] || { say "no running formd: nothing to back up"; return 0; }
  mkdir -p "$backup_dir"
  # (on PostgreSQL no periodic backup has made the directory)
  dc exec -T formd mkdir -p /var/lib/formd/backups
  dc exec -T formd formd backup --data-dir /var/lib/formd --out "/var/lib/formd/backups/$name" >&2
  docker cp "$cid:/var/lib/formd/backups/$name" "$backup_dir/$name"
  printf '%s\n' "$backup_dir/$name"
}

read_state() {   # file -> "TAG VERSION", or nothing
  [ -r "$state_dir/$1" ] && cat "$state_dir/$1"
  return 0
}

write_state() {  # file tag version
  mkdir -p "$state_dir"
  printf '%s %s\n' "$2" "$3" > "$state_dir/$1.tmp"
  mv "$state_dir/$1.tmp" "$state_dir/$1"
}
