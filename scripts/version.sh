#!/bin/sh
# Prints the version a build stamps (package version): the release tag
# without its v when HEAD is exactly a clean vMAJOR.MINOR.PATCH tag, else
# 0.0.0-dev+HASH, with .dirty when tracked files have changes. A dev
# version sorts below every release, so it never passes for an upgrade.
set -eu
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | head -c1 || true)
tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || true)
if [ -n "$tag" ] && [ -z "$dirty" ]; then
	echo "${tag#v}"
	exit 0
fi
hash=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
echo "0.0.0-dev+${hash}${dirty:+.dirty}"
