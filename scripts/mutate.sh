#!/usr/bin/env bash
# Mutation testing of stdmpi's core units (shim, engine, demux, parser,
# merger): each mutant in scripts/mutants.txt is a one-line change that a user
# would notice. It is applied to a copy of this checkout, built, and run
# against the tests that should catch it. A mutant that survives (every test
# it names passes) shows a missing test.
#
#   scripts/mutate.sh                 # every mutant (about 5 minutes on 2 cores)
#   scripts/mutate.sh 3 7 10-12       # mutants 3, 7, 10, 11 and 12
#   scripts/mutate.sh request.cc lxor # mutants whose name or file contains a pattern
#   scripts/mutate.sh --list          # number, name, file and description of each
#   scripts/mutate.sh --check         # does every mutant still apply? (no build)
#   scripts/mutate.sh --keep 5        # keep the copy (its path is printed)
#   scripts/mutate.sh --help          # the options
#
# Not run in CI (too slow). Run it before resolving an issue that touches
# libshim/ or launcher/, and record the summary line ("killed K / total N").
#
# How it works. The copy is this checkout's working tree as it is now
# (tracked files and untracked ones git does not ignore, so uncommitted tests
# count), made in a temporary directory; the checkout itself is never touched.
# It is configured once (-DSTDMPI_BUILD_BENCH=OFF) and built once; then, for
# each mutant, the one file is changed, `cmake --build` recompiles it (and
# relinks), the mutant's tests run with a time limit, and the file is put back.
# Before the mutants, every test they name runs once on the unchanged copy (the
# baseline): a test that fails there would "kill" every mutant.
#
# Each line of the output is one mutant's verdict:
#   KILLED       a test failed (or ran past its time limit): the mutant was caught
#   SURVIVED     every test passed: a test is missing
#   INVALID      the mutant does not compile: fix the mutant
#   NOT-APPLIED  its line is not in the file exactly once (the code changed): update the mutant
# The exit status is 0 when every mutant was killed, 1 otherwise, 2 for a
# usage or setup error. The format of mutants.txt is described at its top.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: scripts/mutate.sh [OPTIONS] [NUMBER|FROM-TO|PATTERN ...]

Mutation testing: applies each one-line mutant of scripts/mutants.txt to a copy
of this checkout, builds it, runs the tests the mutant names and prints
KILLED / SURVIVED / INVALID / NOT-APPLIED per mutant, then "killed K / total N".
Without arguments every mutant runs; a NUMBER or FROM-TO picks mutants by their
number (see --list), any other argument picks those whose name or file contains
it (shell patterns allowed, e.g. 'launcher/*').

options:
  --list            list the mutants (number, name, file, tests, description) and exit
  --check           only check that every selected mutant still applies to this checkout
  --keep            keep the copy and its build (the path is printed at the end)
  --work DIR        make (or update) the copy in DIR and keep it; a later run with the
                    same DIR reuses its build, so only what changed is recompiled
  --timeout SECS    time limit of each test command of a mutant (default 300); a test
                    that runs past it counts as failed (the mutant is KILLED)
  --no-baseline     skip running the selected tests on the unchanged copy first
  --mutants FILE    read the mutants from FILE instead of scripts/mutants.txt
  -j N              build jobs (default 2)
  -v, --verbose     print each mutant's build and test output (it is always in the log)
  -h, --help        this help

The result goes to stdout; each mutant's build and test output goes to
COPY/mutation-logs/NN-NAME.log (kept with --keep or --work).
EOF
}

die() {
  echo "mutate.sh: $*" >&2
  exit 2
}

# --- options ---------------------------------------------------------------

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
MUTANTS_FILE="$SRC/scripts/mutants.txt"
LIST=0
CHECK=0
KEEP=0
WORK=""
TIMEOUT=300
BASELINE=1
JOBS=2
VERBOSE=0
SELECTORS=()

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --list) LIST=1 ;;
    --check) CHECK=1 ;;
    --keep) KEEP=1 ;;
    --work) [ $# -ge 2 ] || die "--work needs a directory"; WORK=$2; KEEP=1; shift ;;
    --work=*) WORK=${1#--work=}; KEEP=1 ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; TIMEOUT=$2; shift ;;
    --timeout=*) TIMEOUT=${1#--timeout=} ;;
    --no-baseline) BASELINE=0 ;;
    --mutants) [ $# -ge 2 ] || die "--mutants needs a file"; MUTANTS_FILE=$2; shift ;;
    --mutants=*) MUTANTS_FILE=${1#--mutants=} ;;
    -j) [ $# -ge 2 ] || die "-j needs a number"; JOBS=$2; shift ;;
    -j*) JOBS=${1#-j} ;;
    -v | --verbose) VERBOSE=1 ;;
    --) shift; SELECTORS+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) SELECTORS+=("$1") ;;
  esac
  shift
done
[[ $TIMEOUT =~ ^[0-9]+$ && $TIMEOUT -gt 0 ]] || die "--timeout $TIMEOUT: expected whole seconds > 0"
[[ $JOBS =~ ^[0-9]+$ && $JOBS -gt 0 ]] || die "-j $JOBS: expected a number of jobs >= 1"
[ -f "$MUTANTS_FILE" ] || die "no mutants file $MUTANTS_FILE"

# --- the mutants file --------------------------------------------------------
#
# Blocks of "key: value" lines, each block opened by "[name]"; "#" lines are
# comments. Keys: file, find, replace, tests (one or more lines), timeout, why.

M_NAME=() M_FILE=() M_FIND=() M_REPLACE=() M_TESTS=() M_TIMEOUT=() M_WHY=() M_LINE=()

parse_mutants() {
  local n=-1 lineno=0 raw key value
  while IFS= read -r raw || [ -n "$raw" ]; do
    lineno=$((lineno + 1))
    raw=${raw%$'\r'}
    [[ $raw =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ $raw =~ ^\[([A-Za-z0-9_.-]+)\][[:space:]]*$ ]]; then
      n=$((n + 1))
      M_NAME[n]=${BASH_REMATCH[1]}
      M_FILE[n]="" M_FIND[n]="" M_REPLACE[n]="" M_TESTS[n]="" M_TIMEOUT[n]="" M_WHY[n]=""
      M_LINE[n]=$lineno
      M_HAS_REPLACE[n]=0
      continue
    fi
    if [[ ! $raw =~ ^([a-z]+):(.*)$ ]]; then
      die "$MUTANTS_FILE:$lineno: expected \"[name]\" or \"key: value\", got: $raw"
    fi
    [ $n -ge 0 ] || die "$MUTANTS_FILE:$lineno: \"$raw\" before the first [name]"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    value=${value#"${value%%[![:space:]]*}"}  # leading blanks
    value=${value%"${value##*[![:space:]]}"}  # trailing blanks
    case "$key" in
      file) M_FILE[n]=$value ;;
      find) M_FIND[n]=$value ;;
      replace) M_REPLACE[n]=$value; M_HAS_REPLACE[n]=1 ;;
      tests) M_TESTS[n]+="${M_TESTS[n]:+$'\n'}$value" ;;
      timeout) M_TIMEOUT[n]=$value ;;
      why) M_WHY[n]=$value ;;
      *) die "$MUTANTS_FILE:$lineno: unknown key \"$key\" (file, find, replace, tests, timeout, why)" ;;
    esac
  done <"$MUTANTS_FILE"
  local i j
  for ((i = 0; i <= n; i++)); do
    local where="$MUTANTS_FILE:${M_LINE[i]} [${M_NAME[i]}]"
    [ -n "${M_FILE[i]}" ] || die "$where: no file"
    [ -n "${M_FIND[i]}" ] || die "$where: no find"
    [ "${M_HAS_REPLACE[i]}" = 1 ] || die "$where: no replace"
    [ "${M_FIND[i]}" != "${M_REPLACE[i]}" ] || die "$where: replace is the same as find"
    [ -n "${M_TESTS[i]}" ] || die "$where: no tests"
    [ -n "${M_WHY[i]}" ] || die "$where: no why"
    [[ -z ${M_TIMEOUT[i]} || ${M_TIMEOUT[i]} =~ ^[0-9]+$ ]] || die "$where: timeout must be seconds"
    while IFS= read -r t; do
      [[ $t =~ ^(unit|ctest|py|sh)([[:space:]]|$) ]] ||
        die "$where: tests \"$t\": expected unit, ctest, py or sh first"
    done <<<"${M_TESTS[i]}"
    for ((j = 0; j < i; j++)); do
      [ "${M_NAME[j]}" != "${M_NAME[i]}" ] || die "$where: the name is used twice"
    done
  done
  COUNT=$((n + 1))
  [ $COUNT -gt 0 ] || die "$MUTANTS_FILE has no mutants"
}
declare -a M_HAS_REPLACE
parse_mutants

# Which mutants run (indexes from 0; numbers shown from 1).
PICKED=()
pick() {
  local i s from to hit
  if [ ${#SELECTORS[@]} -eq 0 ]; then
    for ((i = 0; i < COUNT; i++)); do PICKED+=("$i"); done
    return
  fi
  for ((i = 0; i < COUNT; i++)); do
    hit=0
    for s in "${SELECTORS[@]}"; do
      if [[ $s =~ ^[0-9]+$ ]]; then
        [ "$s" -eq $((i + 1)) ] && hit=1
      elif [[ $s =~ ^([0-9]+)-([0-9]+)$ ]]; then
        from=${BASH_REMATCH[1]} to=${BASH_REMATCH[2]}
        [ $((i + 1)) -ge "$from" ] && [ $((i + 1)) -le "$to" ] && hit=1
      else
        # shellcheck disable=SC2053
        [[ ${M_NAME[i]} == *$s* || ${M_FILE[i]} == *$s* ]] && hit=1
      fi
    done
    [ $hit = 1 ] && PICKED+=("$i")
  done
  for s in "${SELECTORS[@]}"; do
    if [[ $s =~ ^[0-9]+$ ]] && { [ "$s" -lt 1 ] || [ "$s" -gt $COUNT ]; }; then
      die "there is no mutant $s (1..$COUNT)"
    fi
  done
  [ ${#PICKED[@]} -gt 0 ] || die "no mutant matches ${SELECTORS[*]} (see --list)"
}
pick

if [ $LIST = 1 ]; then
  for i in "${PICKED[@]}"; do
    printf '%3d  %-28s %s\n' $((i + 1)) "${M_NAME[i]}" "${M_FILE[i]}"
    printf '     %s\n' "${M_WHY[i]}"
    while IFS= read -r t; do printf '     tests: %s\n' "$t"; done <<<"${M_TESTS[i]}"
  done
  exit 0
fi

# Applies mutant i to the tree under $1, or with $2 = check only counts: prints
# the number of times the find text occurs in the file (the mutant applies when
# it is 1) and, applying, changes the file.
apply_mutant() {
  local root=$1 i=$2 mode=$3
  MUT_FILE="$root/${M_FILE[i]}" MUT_FIND="${M_FIND[i]}" MUT_REPLACE="${M_REPLACE[i]}" \
    MUT_MODE="$mode" python3 - <<'PY'
import os, sys
path, find, repl = os.environ["MUT_FILE"], os.environ["MUT_FIND"], os.environ["MUT_REPLACE"]
try:
    with open(path, "rb") as f:
        text = f.read()
except OSError:
    print("missing")
    sys.exit(0)
find_b, repl_b = find.encode(), repl.encode()
n = text.count(find_b)
print(n)
if n == 1 and os.environ["MUT_MODE"] == "apply":
    # Written in place (same inode), so the build sees a changed file.
    with open(path, "wb") as f:
        f.write(text.replace(find_b, repl_b, 1))
PY
}

if [ $CHECK = 1 ]; then
  bad=0
  for i in "${PICKED[@]}"; do
    c=$(apply_mutant "$SRC" "$i" check)
    if [ "$c" = 1 ]; then
      printf '%3d  ok           %s\n' $((i + 1)) "${M_NAME[i]}"
    else
      printf '%3d  NOT-APPLIED  %s: %s: the find text occurs %s times, not once\n' $((i + 1)) \
        "${M_NAME[i]}" "${M_FILE[i]}" "$c"
      bad=1
    fi
  done
  exit $bad
fi

command -v python3 >/dev/null || die "python3 is needed"
command -v cmake >/dev/null || die "cmake is needed"
command -v ctest >/dev/null || die "ctest is needed"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"

# --- the copy ----------------------------------------------------------------

START=$(date +%s)
if [ -n "$WORK" ]; then
  mkdir -p "$WORK" || die "cannot make $WORK"
  COPY=$(cd "$WORK" && pwd -P)
else
  COPY=$(mktemp -d "${TMPDIR:-/tmp}/stdmpi-mutate.XXXXXX") || die "cannot make a temporary directory"
fi
[ "$COPY" != "$SRC" ] || die "the copy cannot be the checkout itself"
case "$COPY/" in "$SRC"/*) die "the copy ($COPY) cannot be inside the checkout ($SRC)" ;; esac
BUILD="$COPY/build"
LOGS="$COPY/mutation-logs"

# The file being mutated and its original bytes, for putting it back.
CUR_FILE=""
ORIG_SAVE="$COPY/.mutate-original"
restore() {
  if [ -n "$CUR_FILE" ]; then
    # cat, not cp -p: the restored file is newer than the mutant's object file.
    cat "$ORIG_SAVE" >"$CUR_FILE"
    CUR_FILE=""
  fi
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  restore
  if [ "$KEEP" = 0 ] && [ -n "${COPY:-}" ] && [ -d "$COPY" ]; then
    rm -rf "$COPY"
  fi
}
trap cleanup EXIT
trap 'echo "mutate.sh: interrupted" >&2; exit 130' INT TERM

echo "mutate.sh: copying $SRC to $COPY" >&2
# What `git status` shows as the tree: tracked files (as they are now, changed
# or not) and untracked files git does not ignore. Without git: everything but
# build directories. A file is copied only if it differs from the copy's, so a
# reused copy (--work) recompiles only what changed.
copy_tree() {
  local list
  list=$(mktemp) || die "mktemp failed"
  if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard) >"$list" ||
      die "git ls-files failed in $SRC"
  else
    (cd "$SRC" && find . \( -path './build*' -o -path ./.git \) -prune -o \( -type f -o -type l \) \
      -printf '%P\0') >"$list"
  fi
  (
    cd "$SRC" || exit 1
    while IFS= read -r -d '' f; do
      [ -e "$f" ] || [ -L "$f" ] || continue  # deleted in the tree, not yet in git
      if [ -L "$f" ]; then
        mkdir -p "$COPY/$(dirname "$f")" && cp -P "$f" "$COPY/$f" 2>/dev/null || cp -PT "$f" "$COPY/$f"
      elif ! cmp -s "$f" "$COPY/$f" 2>/dev/null; then
        mkdir -p "$COPY/$(dirname "$f")" && cp "$f" "$COPY/$f" || exit 1
        chmod --reference="$f" "$COPY/$f"
      fi
    done <"$list"
  ) || die "copying the tree failed"
  rm -f "$list"
}
copy_tree
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

# --- the build -------------------------------------------------------------

generator=()
if [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
echo "mutate.sh: configuring and building $BUILD (the first build takes a few minutes)" >&2
# -O2 without -g: the same code as the default RelWithDebInfo build, faster to build and link.
if ! cmake -S "$COPY" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DSTDMPI_BUILD_BENCH=OFF -DSTDMPI_BUILD_TESTS=ON >"$LOGS/build.log" 2>&1 ||
  ! cmake --build "$BUILD" -j "$JOBS" >>"$LOGS/build.log" 2>&1; then
  tail -n 30 "$LOGS/build.log" >&2
  die "the unchanged copy does not build (log: $LOGS/build.log)"
fi
[ -x "$BUILD/bin/unit_tests" ] || echo "mutate.sh: warning: no unit_tests (Catch2 missing?): unit tests fail" >&2

# --- running tests -----------------------------------------------------------
#
# A tests line is one of
#   unit ARGS...   build/bin/unit_tests ARGS (Catch2 test names or patterns; quote
#                  names with spaces; "[#file_test]" selects a test file's cases)
#   ctest REGEX    ctest -R REGEX in the copy's build (e.g. ^protocol/limits$)
#   py IDS...      python3 -m unittest IDS in tests/integration (e.g. test_verbs.Wtime)
#   sh COMMAND     any command, run in the copy's root
# each run with $STDMPI_BUILD_DIR set to the copy's build. Exit status 0 is a pass.

run_test() {  # $1: the tests line, $2: the time limit; output to stdout
  local line=$1 limit=$2 kind rest
  kind=${line%%[[:space:]]*}
  rest=${line#"$kind"}
  rest=${rest#"${rest%%[![:space:]]*}"}
  local -a argv=()
  case "$kind" in
    unit)
      set -f  # "[#file_test]" is a Catch2 tag, not a file name pattern
      eval "argv=($rest)" || return 99
      set +f
      (cd "$COPY" && timeout -k 10 "$limit" "$BUILD/bin/unit_tests" -# -w NoTests "${argv[@]}")
      ;;
    ctest)
      # --no-tests=error: a regex that selects nothing must not pass.
      (cd "$BUILD" && timeout -k 10 "$limit" ctest --no-tests=error --output-on-failure \
        --timeout "$limit" -R "$rest")
      ;;
    py)
      set -f
      eval "argv=($rest)" || return 99
      set +f
      (cd "$COPY/tests/integration" && timeout -k 10 "$limit" /usr/bin/env python3 -m unittest \
        "${argv[@]}")
      ;;
    sh)
      (cd "$COPY" && timeout -k 10 "$limit" bash -c "$rest")
      ;;
  esac
}
export STDMPI_BUILD_DIR="$BUILD"

# Runs mutant i's tests in order until one fails; sets FAILED_BY to that one.
run_tests_of() {
  local i=$1 log=$2 limit t rc
  limit=${M_TIMEOUT[i]:-$TIMEOUT}
  FAILED_BY=""
  while IFS= read -r t; do
    echo "=== $t" >>"$log"
    if [ $VERBOSE = 1 ]; then
      run_test "$t" "$limit" 2>&1 | tee -a "$log"
      rc=${PIPESTATUS[0]}
    else
      run_test "$t" "$limit" >>"$log" 2>&1
      rc=$?
    fi
    echo "=== exit status $rc" >>"$log"
    if [ "$rc" -ne 0 ]; then
      FAILED_BY=$t
      [ ${#FAILED_BY} -le 80 ] || FAILED_BY="${FAILED_BY:0:77}..."
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then FAILED_BY+=" (ran past ${limit} s)"; fi
      return 1
    fi
  done <<<"${M_TESTS[i]}"
  return 0
}

# --- the baseline --------------------------------------------------------------

if [ $BASELINE = 1 ]; then
  declare -A seen=()
  base_fail=0
  echo "mutate.sh: baseline: the mutants' tests on the unchanged copy" >&2
  for i in "${PICKED[@]}"; do
    while IFS= read -r t; do
      [ -n "${seen[$t]:-}" ] && continue
      seen[$t]=1
      if ! run_test "$t" "${M_TIMEOUT[i]:-$TIMEOUT}" >>"$LOGS/baseline.log" 2>&1; then
        echo "mutate.sh: baseline FAILED: $t (log: $LOGS/baseline.log)" >&2
        base_fail=1
      fi
    done <<<"${M_TESTS[i]}"
  done
  if [ $base_fail = 1 ]; then
    KEEP=1
    die "tests fail without any mutant; fix them (or the tests lines) first. The copy is kept: $COPY"
  fi
fi

# --- the mutants ---------------------------------------------------------------

killed=0 survived=0 invalid=0 notapplied=0 total=0
SURVIVORS=()
PROBLEMS=()
printf 'mutation testing of %s (%d mutants, %s)\n' "$SRC" ${#PICKED[@]} "$(basename "$MUTANTS_FILE")"
for i in "${PICKED[@]}"; do
  num=$((i + 1))
  total=$((total + 1))
  t0=$(date +%s)
  log=$(printf '%s/%02d-%s.log' "$LOGS" "$num" "${M_NAME[i]}")
  {
    echo "mutant $num [${M_NAME[i]}]: ${M_WHY[i]}"
    echo "file:    ${M_FILE[i]}"
    echo "find:    ${M_FIND[i]}"
    echo "replace: ${M_REPLACE[i]}"
  } >"$log"
  target="$COPY/${M_FILE[i]}"
  verdict="" detail=""
  if [ -f "$target" ]; then cp "$target" "$ORIG_SAVE"; fi
  CUR_FILE=$target
  count=$(apply_mutant "$COPY" "$i" apply)
  if [ "$count" != 1 ]; then
    CUR_FILE=""
    verdict=NOT-APPLIED
    if [ "$count" = missing ]; then
      detail="${M_FILE[i]} does not exist"
    else
      detail="its find text occurs $count times in ${M_FILE[i]}, not once"
    fi
    notapplied=$((notapplied + 1))
    PROBLEMS+=("$num [${M_NAME[i]}] NOT-APPLIED: $detail")
  else
    diff -u "$ORIG_SAVE" "$target" --label "a/${M_FILE[i]}" --label "b/${M_FILE[i]}" >>"$log"
    echo "=== build" >>"$log"
    if ! cmake --build "$BUILD" -j "$JOBS" >>"$log" 2>&1; then
      verdict=INVALID
      detail="does not compile"
      invalid=$((invalid + 1))
      PROBLEMS+=("$num [${M_NAME[i]}] INVALID: does not compile (log: $log)")
    elif run_tests_of "$i" "$log"; then
      verdict=SURVIVED
      survived=$((survived + 1))
      passed=""
      while IFS= read -r t; do passed+=$'\n'"      passed: $t"; done <<<"${M_TESTS[i]}"
      SURVIVORS+=("$num [${M_NAME[i]}] ${M_FILE[i]}: ${M_WHY[i]}"$'\n'"      ${M_FIND[i]}"$'\n'"   -> ${M_REPLACE[i]}$passed")
    else
      verdict=KILLED
      detail="by $FAILED_BY"
      killed=$((killed + 1))
    fi
    restore
  fi
  secs=$(($(date +%s) - t0))
  echo "=== $verdict ${detail} (${secs} s)" >>"$log"
  printf '%-11s %3d %-28s %s%s (%d s)\n' "$verdict" "$num" "${M_NAME[i]}" "${M_WHY[i]}" \
    "${detail:+ [$detail]}" "$secs"
done

# Leave a kept copy built as the checkout is.
if [ $KEEP = 1 ]; then
  cmake --build "$BUILD" -j "$JOBS" >>"$LOGS/build.log" 2>&1 || true
fi

elapsed=$(($(date +%s) - START))
echo
if [ ${#SURVIVORS[@]} -gt 0 ]; then
  echo "survivors (each is a missing test):"
  for s in "${SURVIVORS[@]}"; do echo "  $s"; done
fi
if [ ${#PROBLEMS[@]} -gt 0 ]; then
  echo "mutants to fix in $(basename "$MUTANTS_FILE"):"
  for s in "${PROBLEMS[@]}"; do echo "  $s"; done
fi
printf 'killed %d / total %d (survived %d, invalid %d, not applied %d) in %dm%02ds\n' \
  $killed $total $survived $invalid $notapplied $((elapsed / 60)) $((elapsed % 60))
[ $KEEP = 1 ] && echo "the copy is kept: $COPY (logs: $LOGS)"
[ $killed -eq $total ] && exit 0
exit 1
