#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 8s; CI
# passes 3s), one target at a time, as the go command requires, and prints the
# executions each ran. A failure stops the script with the target's output;
# the crasher is left in that package's testdata/fuzz/<Target>/ to commit
# as a regression seed.
#
#	scripts/fuzz.sh                 # every target, 8s each
#	FUZZTIME=1m scripts/fuzz.sh     # longer
#	scripts/fuzz.sh FuzzParseReply  # only targets whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-8s}
filter=${1:-.}

# "pkgdir Name" for every func FuzzXxx(f *testing.F) in a _test.go file of
# this module (bench/ is a separate module).
targets=$(grep -rIl --include='*_test.go' --exclude-dir=bench --exclude-dir=.git \
	-E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	while read -r file; do
		dir=$(dirname "$file")
		grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed "s|^func |$dir |"
	done | sort | grep -E " .*${filter}" || true)

if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz target matches $filter" >&2
	exit 1
fi

# One fuzzing test binary per package, built once (go test -c -fuzz
# instruments it for coverage) and run once per target in the package's
# directory, as go test would: relinking the binary for every target cost
# more than the fuzzing itself (17 s a target on a loaded 2-core machine,
# against 3 s of fuzzing).
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
total=0
summary=""
built=""
while read -r dir name; do
	test="$bin/$(echo "$dir" | tr './' '__').test"
	case " $built " in
	*" $dir "*) ;;
	*)
		go test -c -fuzz=. -o "$test" "$dir"
		built+=" $dir"
		;;
	esac
	cache="$(go env GOCACHE)/fuzz/$(go list "$dir")"
	log=$(mktemp)
	echo "== $name ($dir, $fuzztime)"
	if ! (cd "$dir" && "$test" -test.run='^$' -test.fuzz="^${name}\$" \
		-test.fuzztime="$fuzztime" -test.fuzzcachedir="$cache") >"$log" 2>&1; then
		cat "$log"
		rm -f "$log"
		echo "fuzz.sh: $name failed; its input is in $dir/testdata/fuzz/$name/" >&2
		exit 1
	fi
	# The last progress line reads "fuzz: elapsed: 8s, execs: 123456 (...)".
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
	rm -f "$log"
	total=$((total + execs))
	summary+=$(printf '%-24s %-18s %12s\n' "$name" "$dir" "$execs")$'\n'
	echo "   $execs executions"
done <<<"$targets"

echo
echo "== fuzz summary ($fuzztime per target)"
printf '%-24s %-18s %12s\n' target package executions
printf '%s' "$summary"
printf '%-24s %-18s %12s\n' total "" "$total"
