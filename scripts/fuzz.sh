#!/usr/bin/env bash
# fuzz.sh [PACKAGES] runs every Fuzz target of PACKAGES (default ./...) for
# FUZZTIME each.
# `go test -list` prints a package's matching names and then its "ok" line,
# so names are collected until the line that says which package they belong to.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# Captured first so that a package that does not build fails the run.
list=$("$GO" test -list '^Fuzz' "${@:-./...}")

targets=()
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in "${names[@]}"; do targets+=("$pkg $n"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$list"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no Fuzz targets found"
	exit 0
fi

for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "== $pkg $name ($FUZZTIME)"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done
echo "fuzz: ${#targets[@]} targets passed"
