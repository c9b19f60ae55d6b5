#!/usr/bin/env bash
# Generate Python code for proto/ into mmtasks/pb (committed), or with --check prove that the
# committed code matches proto/ (CI runs the check; a stale mmtasks/pb fails it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
(cd proto && "../$PY" -m grpc_tools.protoc -I. --python_out="$tmp" --pyi_out="$tmp" \
  --grpc_python_out="$tmp" $files)
# protoc imports by proto path (`from mm.v1 import x_pb2`); our package lives at mmtasks.pb.
find "$tmp" -name '*.py*' -exec sed -i -E 's/^from mm\.v1 import/from mmtasks.pb.mm.v1 import/' {} +
for d in "" mm mm/v1; do touch "$tmp/$d/__init__.py"; done
if [ "${1:-}" = "--check" ]; then
  if diff -r -q "$tmp" mmtasks/pb -x __pycache__ >/dev/null; then
    echo "proto check: mmtasks/pb matches proto/"
  else
    diff -r -q "$tmp" mmtasks/pb -x __pycache__ || true
    echo "proto check FAILED: mmtasks/pb does not match proto/ (run: make proto)"; exit 1
  fi
else
  rm -rf mmtasks/pb && cp -r "$tmp" mmtasks/pb
  echo "generated: $(cd mmtasks/pb && find . -name '*.py' ! -name '__init__.py' | sort | tr '\n' ' ')"
fi
