#!/usr/bin/env bash
# bench/ai.sh - formd's in-process llama provider (src/ai/llama.c) side by
# side with a bare llama.cpp decode loop over the same model, in the same
# run: the bare loop is the ceiling, the goal is formd >= 0.95 of it.
#
#   bench/ai.sh
#   BENCH_PRESETS=1b BENCH_REPS=2 bench/ai.sh
#
# For each preset of BENCH_PRESETS ("1b 7b": TinyLlama-1.1B's shape in Q8_0,
# Mistral-7B's in Q4_0) a random-weight model is made once with
# `formd ai mkmodel --preset P --seed 1` and kept in
# ${FORMD_CACHE:-$HOME/.cache/formd}/models/P-seed1.gguf (outside the
# checkout; about 1.2 and 4 GB). Random weights give nonsense text at the
# real speed. bench/ai_bench.c, built here into a temporary directory against
# build/libformd.a and the llama.cpp static libraries, times one extraction,
# about BENCH_PROMPT_TOKENS (300) prompt tokens (src/tasks/ai.c's prefix for a
# small form and a customer's message) and BENCH_GEN (64) generated greedily
# without a grammar, with BENCH_THREADS threads (default: nproc), twice per
# repetition:
#   bare   llama_decode of the prompt in n_batch chunks, then greedy
#          llama_sampler_sample + llama_decode of one token, never stopping
#          at end-of-generation
#   formd  ai_open + ai_complete, the cached prefix evicted before each call
#          (its own prompt_seconds / generate_seconds)
# alternating for BENCH_REPS (3) repetitions after one warm-up each.
#
# How to read the table (one per preset): prompt tok/s (prompt tokens /
# time to tokenise and evaluate them), gen tok/s (generated tokens / time
# from the prompt's logits to the last token) and extraction s (wall-clock
# of the whole run), medians; "ratio formd/bare" divides formd's speed by
# bare's (for extraction s, bare's seconds by formd's), each judged against
# 0.95. If formd stops at end-of-generation before BENCH_GEN tokens, only
# the tokens/s are judged. "others" is how many CPUs other processes kept
# busy during the runs: llama.cpp's threads wait for one another at every
# step, so on a shared machine a run slows down several times more than the
# CPU it loses, and rows with others well above 0 are noise, not formd;
# then look at the "best" rows (each side's fastest run, info) or run again
# with more BENCH_REPS. The other info rows are one run each: formd reading
# the same request with its prefix cached (only the prompt is evaluated) and
# formd under the grammar compiled from the form's schema. Model loading is
# printed for information; it is not in the ratios.
#
# Not run in CI (the models are large and the runs long). The table goes to
# stdout, per-run figures and progress to stderr. The goal is informational:
# the exit status is non-zero only when something failed to run.
set -euo pipefail
cd "$(dirname "$0")/.."

presets=${BENCH_PRESETS:-1b 7b}
threads=${BENCH_THREADS:-$(nproc)}
export BENCH_THREADS=$threads
models=${FORMD_CACHE:-$HOME/.cache/formd}/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Makefile's value of variable $1 (CPPFLAGS, LDLIBS: llama.cpp's location lives there).
make_var() {
    # shellcheck disable=SC2016 # the $ are make's, not the shell's
    make -s --no-print-directory -f Makefile -f - "print-$1" <<<'print-%: ; @printf "%s\n" "$($*)"'
}

echo "building build/formd, build/libformd.a and the bench driver" >&2
make -s build/formd build/libformd.a >&2
read -ra cppflags <<<"$(make_var CPPFLAGS)"
read -ra ldlibs <<<"$(make_var LDLIBS)"
cc -O2 -std=c11 -Wall -Wextra -Werror "${cppflags[@]}" bench/ai_bench.c build/libformd.a \
   "${ldlibs[@]}" -o "$tmp/ai_bench"

mkdir -p "$models"
for p in $presets; do
    m=$models/$p-seed1.gguf
    if [ ! -s "$m" ]; then
        echo "making the $p model into $m" >&2
        build/formd ai mkmodel --preset "$p" --seed 1 --out "$m" >&2
    fi
done

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cores=$(grep -c '^processor' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)
echo "machine: ${cpu:-unknown CPU}, $(nproc) online CPUs ($cores in /proc/cpuinfo), $mem RAM;" \
     "BENCH_THREADS=$threads"
for p in $presets; do
    echo "running $p" >&2
    "$tmp/ai_bench" "$models/$p-seed1.gguf" "$p"
done
