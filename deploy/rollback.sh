#!/usr/bin/env bash
# Returns formd to the previous release recorded by deploy/deploy.sh: back up,
# stop, migrate the schema down to the previous release's version (with the
# current image, which knows the down migrations), start the previous image,
# check its health.
#
#   deploy/rollback.sh                 to the previous release
#   deploy/rollback.sh --restore FILE  and restore the data from a backup
#                                      (formd restore) instead of migrating down
#
# Environment: as deploy/deploy.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

restore=
while [ $# -gt 0 ]; do
  case $1 in
    --restore) restore=${2:?--restore needs a backup file}; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

read -r prev_tag prev_version <<<"$(read_state previous)" || true
if [ -z "${prev_tag:-}" ] || [ -z "${prev_version:-}" ]; then
  die "no previous release recorded in $state_dir/previous"
fi
# The release being left: the one deploy.sh just tried, else the current one.
read -r cur_tag _ <<<"$(read_state current)" || true
cur_tag=${FORMD_STATE_NEW_TAG:-${cur_tag:-}}
[ -n "$cur_tag" ] || die "no current release recorded in $state_dir/current"
[ -z "$restore" ] || [ -r "$restore" ] || die "cannot read backup '$restore'"
say "rolling back from $image:$cur_tag to $image:$prev_tag (schema version $prev_version)"

# 1. A backup of the data as it is now, whatever happens next.
file=$(backup_running "pre-rollback-$cur_tag.backup")
[ -n "$file" ] && say "backup: $file"

# 2. Nothing may write while the schema moves.
dc stop formd

# 3. The data: migrated down by the newer image, or restored from a backup.
if [ -n "$restore" ]; then
  say "restoring $restore"
  FORMD_TAG=$prev_tag dc run --rm --no-deps -T -v "$(cd "$(dirname "$restore")" && pwd)/$(basename "$restore"):/restore/backup:ro" \
    formd restore --data-dir /var/lib/formd --from /restore/backup
else
  say "migrating the schema down to version $prev_version"
  FORMD_TAG=$cur_tag dc run --rm --no-deps -T formd migrate down --to "$prev_version"
fi

# 4. The previous image.
FORMD_TAG=$prev_tag dc up -d --no-build formd
wait_healthy || die "the previous release $image:$prev_tag is not healthy either: see docs/operations.md"
write_state current "$prev_tag" "$prev_version"
rm -f "$state_dir/previous"
say "rolled back to $image:$prev_tag"
