#!/usr/bin/env bash
# Instructions per operation of knotwork's single-threaded hot paths, under
# valgrind's callgrind (exact and repeatable, unlike wall-clock time). Each
# path runs twice, with a small and a large size; the difference of the two
# totals divided by the difference of the operation counts is the cost of
# one operation, with start-up and warm-up cancelled out.
#
# Usage: bash benches/callgrind.sh        (needs valgrind; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
# Wherever the target directory is (CARGO_TARGET_DIR, build.target-dir).
bin=$(cargo bench --bench instr --no-run 2>&1 | sed -n 's/.*(\(.*release\/deps\/instr-[0-9a-f]*\)).*/\1/p' | head -1)
[ -x "$bin" ] || { echo "could not find the instr bench binary"; exit 1; }

# fib(n) forks fib(n + 1) - 1 times.
forks() { awk -v n="$1" 'BEGIN { a = 0; b = 1; for (i = 0; i <= n; i++) { t = a + b; a = b; b = t } print a - 1 }'; }

total() { # path n -> total instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-16s %14s\n' "path" "instr/op"
for spec in "local-spawn 10000 30000" "slot-get 100000 300000" "loop-current 100000 300000" \
            "exec-blocking 10000 30000" "exec 10000 30000" "scope-fork 16 20" "pool-join 16 20" \
            "free-join 16 20" "rayon-join 16 20" "rayon-scope 16 20"; do
    set -- $spec
    a=$(total "$1" "$2"); b=$(total "$1" "$3")
    case "$1" in
        scope-fork|pool-join|free-join|rayon-join|rayon-scope) ops=$(( $(forks "$3") - $(forks "$2") )) ;;
        *) ops=$(( $3 - $2 )) ;;
    esac
    awk -v p="$1" -v a="$a" -v b="$b" -v ops="$ops" 'BEGIN { printf "%-16s %14.1f\n", p, (b - a) / ops }'
done
