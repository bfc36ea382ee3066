#!/bin/sh
# Refreshes app/static/graphiql/vendor from npm: GraphiQL's UMD build and stylesheet, the
# React and ReactDOM UMD builds it runs on, and graphql-ws's UMD client (subscriptions over
# graphql-transport-ws), at the versions pinned in scripts/graphiql/package-lock.json, with
# the licence of every package installed (graphiql.min.js bundles its own dependencies).
#
# To move to newer versions: edit scripts/graphiql/package.json, run
# `npm install --package-lock-only` in scripts/graphiql, then this script; commit all three.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
vendor="$root/app/static/graphiql/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/graphiql/package.json" "$here/graphiql/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts)
modules="$work/node_modules"

rm -rf "$vendor"
mkdir -p "$vendor/licenses"
cp "$modules/graphiql/graphiql.min.js" "$modules/graphiql/graphiql.min.css" "$vendor/"
cp "$modules/react/umd/react.production.min.js" "$vendor/"
cp "$modules/react-dom/umd/react-dom.production.min.js" "$vendor/"
cp "$modules/graphql-ws/umd/graphql-ws.min.js" "$vendor/"

# One licence file per package, named after it (@scope/name as @scope__name).
for package_json in "$modules"/*/package.json "$modules"/@*/*/package.json; do
  [ -f "$package_json" ] || continue
  dir=$(dirname "$package_json")
  name=$(node -p "require('$package_json').name")
  version=$(node -p "require('$package_json').version")
  licence=$(find "$dir" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' \) | sort | head -n 1)
  target="$vendor/licenses/$(echo "$name" | sed 's|/|__|')"
  if [ -n "$licence" ]; then
    { echo "$name $version"; echo; cat "$licence"; } > "$target.txt"
  else
    echo "$name $version: $(node -p "require('$package_json').license") (no licence file in the package)" > "$target.txt"
  fi
done

# What was vendored, for the page's tests and for a reader.
(cd "$work" && node -e '
const lock = require("./package-lock.json").packages;
const pick = ["graphiql", "react", "react-dom", "graphql-ws"];
console.log(JSON.stringify(Object.fromEntries(pick.map((p) => [p, lock["node_modules/" + p].version])), null, 2));
') > "$vendor/versions.json"
echo "vendored into $vendor:"
ls -l "$vendor"
