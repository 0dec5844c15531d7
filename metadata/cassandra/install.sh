#!/bin/sh
# Copies Apache Cassandra (pom.xml beside this script) and its runtime jars
# into DIR/lib (default: the repository's .cache/cassandra) with Maven, once:
# DIR/lib/.complete records the pom it came from. Run by `make test` and,
# when the jars are missing, by the tests themselves.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../../.cache/cassandra}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamp=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
if [ -f "$dir/lib/.complete" ] && [ "$(cat "$dir/lib/.complete")" = "$stamp" ]; then
	exit 0
fi
command -v mvn >/dev/null || { echo "Maven (mvn) is missing: install the Debian packages openjdk-17-jdk-headless and maven (make test does)" >&2; exit 1; }
echo "fetching Apache Cassandra with Maven into $dir/lib" >&2
rm -rf "$dir/lib.partial"
mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib.partial"
rm -rf "$dir/lib"
mv "$dir/lib.partial" "$dir/lib"
echo "$stamp" >"$dir/lib/.complete"
