# shellcheck shell=bash
# Release builds of the balancer at two revisions, for bench/compare and
# bench/callgrind. Source it after `cd` to the repository root; it defines
# functions only.
#
# A revision is built in a temporary git worktree (target/compare/src,
# removed after the build) with its own CARGO_TARGET_DIR,
# target/compare/target, kept between runs so that only the workspace's own
# crates are rebuilt (the first run seeds it with a copy of the working
# tree's release build when there is one). The binary is kept too, in
# target/compare/bin/<commit>-<rustc>/, and a later run at the same commit
# and compiler skips the build. "The working tree" (no revision) is built
# in place, with uncommitted changes, into the usual target directory.
#
# Every cargo command runs under `flock $CARGO_LOCK` (default
# /tmp/cargo.lock, so that builds on a shared machine take turns); set
# CARGO_LOCK= to run cargo without it.

COMPARE_DIR=${COMPARE_DIR:-$PWD/target/compare}
build_wt=""

cargo_locked() {
  if [[ -n ${CARGO_LOCK-/tmp/cargo.lock} ]]; then
    flock "${CARGO_LOCK-/tmp/cargo.lock}" cargo "$@"
  else
    cargo "$@"
  fi
}

# remove_build_worktree: removes the temporary worktree if one is left (an
# interrupted build); for the caller's EXIT trap.
remove_build_worktree() {
  if [[ -n $build_wt ]]; then
    git worktree remove --force "$build_wt" 2>/dev/null || rm -rf "$build_wt"
    git worktree prune
    build_wt=""
  fi
}

# describe_rev REV: "<short commit> <subject>", or for the working tree (REV
# empty) HEAD's, marked when there are uncommitted changes to tracked files.
describe_rev() {
  if [[ -n $1 ]]; then
    git log -1 --format='%h %s' "$1^{commit}"
  else
    local dirty=""
    [[ -z $(git status --porcelain --untracked-files=no) ]] || dirty=" + uncommitted changes"
    echo "working tree: $(git log -1 --format='%h %s' HEAD)$dirty"
  fi
}

# build_balancer REV DEST: copies the release balancer of REV (a commit-ish,
# or empty for the working tree) to DEST. Progress goes to stderr.
build_balancer() {
  local rev=$1 dest=$2
  if [[ -z $rev ]]; then
    echo "building the working tree (release)..." >&2
    cargo_locked build --release -q -p balancer >&2
    cp "${CARGO_TARGET_DIR:-target}/release/balancer" "$dest"
    return
  fi
  local commit rustc_id cached
  commit=$(git rev-parse --verify -q "$rev^{commit}") || { echo "unknown revision: $rev" >&2; return 1; }
  rustc_id=$(rustc -vV | sha1sum | cut -c1-12)
  cached=$COMPARE_DIR/bin/$commit-$rustc_id/balancer
  # One build at a time in target/compare: two runs of bench/compare or
  # bench/callgrind at once would share its worktree.
  mkdir -p "$COMPARE_DIR"
  local lock
  exec {lock}>"$COMPARE_DIR/build.lock"
  flock "$lock"
  if [[ -x $cached ]]; then
    echo "using the build of $rev (${commit:0:12}) from $cached" >&2
  else
    echo "building $rev (${commit:0:12}) in a temporary worktree (release; target dir $COMPARE_DIR/target)..." >&2
    local own=${CARGO_TARGET_DIR:-target}/release
    if [[ ! -d $COMPARE_DIR/target/release && -d $own ]]; then
      # Seeded with the working tree's build: cargo then reuses the
      # dependencies and rebuilds only the workspace's crates.
      echo "seeding $COMPARE_DIR/target with a copy of $own..." >&2
      mkdir -p "$COMPARE_DIR/target"
      cp -a "$own" "$COMPARE_DIR/target/"
    fi
    build_wt=$COMPARE_DIR/src
    git worktree remove --force "$build_wt" 2>/dev/null || rm -rf "$build_wt"
    git worktree prune
    git worktree add -q --detach "$build_wt" "$commit" >&2
    (cd "$build_wt" && CARGO_TARGET_DIR=$COMPARE_DIR/target cargo_locked build --release -q -p balancer) >&2
    mkdir -p "${cached%/*}"
    cp "$COMPARE_DIR/target/release/balancer" "$cached.tmp" && mv "$cached.tmp" "$cached"
    remove_build_worktree
  fi
  exec {lock}>&-
  cp "$cached" "$dest"
}

# has_flag BINARY FLAG: true when BINARY --help lists FLAG.
has_flag() { "$1" --help 2>/dev/null | grep -q -- "$2\b"; }
