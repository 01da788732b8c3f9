# shellcheck shell=bash
# shellcheck disable=SC2154 # REPO_ROOT: set by the caller
# The fuzz targets of fuzz/, shared by scripts/test (its fuzz step) and
# bench/fuzz. Source it after scripts/lib/common.sh, with REPO_ROOT set; it
# defines functions only.
#
# cargo fuzz needs nightly flags (-Zsanitizer, -Cpasses); on the stable
# toolchain RUSTC_BOOTSTRAP=1 lets them through. FUZZ_SANITIZER picks the
# sanitizer (default address; none when ASan does not build somewhere).

FUZZ_TARGETS=(http_input tracking_resp resp_frontend backend_reply)
CARGO_FUZZ_VERSION=0.13.1

# fuzz_dict TARGET: the dictionary file the target runs with.
fuzz_dict() {
    case "$1" in
    http_input) echo "$REPO_ROOT/fuzz/dict/json.dict" ;;
    *) echo "$REPO_ROOT/fuzz/dict/resp.dict" ;;
    esac
}

# cargo_fuzz ARGS...: cargo fuzz from fuzz/, with the flags it needs.
cargo_fuzz() {
    (cd "$REPO_ROOT/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz "$@")
}

# fuzz_build: installs cargo-fuzz (pinned) when missing, then builds every
# target; FUZZ_NO_BUILD=1 skips both, to run targets built already.
fuzz_build() {
    [[ ${FUZZ_NO_BUILD:-} == 1 ]] && return 0
    if ! cargo fuzz --version >/dev/null 2>&1; then
        log "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install)"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
    cargo_fuzz build --sanitizer "${FUZZ_SANITIZER:-address}"
}

# fuzz_bin TARGET: where cargo fuzz build put the target's binary.
fuzz_bin() {
    local triple
    triple=$(rustc -vV | sed -n 's/^host: //p')
    echo "${CARGO_TARGET_DIR:-$REPO_ROOT/fuzz/target}/$triple/release/$1"
}

# fuzz_run TARGET SECONDS CORPUS LOG: runs TARGET for SECONDS, new inputs
# going to the directory CORPUS (created, and left alone by the run
# otherwise), the committed corpus read too; libFuzzer's output to LOG.
# Non-zero when the target crashed, failed an assertion, hung or ran out
# of memory (its input is then under fuzz/artifacts/TARGET/).
fuzz_run() {
    local target=$1 seconds=$2 corpus=$3 out=$4
    mkdir -p "$corpus" "$REPO_ROOT/fuzz/artifacts/$target"
    "$(fuzz_bin "$target")" "$corpus" "$REPO_ROOT/fuzz/corpus/$target" \
        -artifact_prefix="$REPO_ROOT/fuzz/artifacts/$target/" \
        -max_total_time="$seconds" -dict="$(fuzz_dict "$target")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$out" 2>&1
}
