#!/usr/bin/env bash
# Build the analyst's offline kit in DIR (default: analyst-kit):
#   DIR/wheels/                    PyNaCl, argon2-cffi, Pillow and their dependencies, as wheels
#   DIR/keys/                      the keys package (with SPEC.md and its subpackages)
#   DIR/forms/election.toml        the form, for the labels of `python -m keys summary`
#   DIR/requirements-analyst.txt   the pinned versions, with the sha256 of every wheel
#   DIR/INSTALL.txt                offline check, install and use, step by step
#   DIR/SHA256SUMS                 the sha256 of every other file in DIR (`sha256sum -c`)
# Its last line prints the hash of SHA256SUMS itself: give it to the analysts by another
# channel than the kit (in person, by phone), so they can check the kit came from you.
# Wheels are fetched for this machine's Python and for CPython 3.9-3.13 on
# manylinux (this machine's architecture). Needs the package registry once;
# the laptop that uses the kit needs nothing but Python 3.9+.
# Running it again refreshes keys/ and INSTALL.txt and fetches only what is missing.
set -euo pipefail

die() { echo "analyst-kit: error: $*" >&2; exit 1; }
[ $# -le 1 ] || die "usage: scripts/analyst-kit.sh [DIR]"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-analyst-kit}
REQ="$ROOT/requirements-analyst.txt"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "no Python found (set PYTHON=/path/to/python3)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (install python3-pip)"
[ -f "$REQ" ] || die "$REQ is missing"
[ -f "$ROOT/keys/SPEC.md" ] || die "$ROOT/keys is incomplete (no SPEC.md)"

mkdir -p "$DIR/wheels" || die "cannot create $DIR/wheels"
WHEELS=$(cd "$DIR/wheels" && pwd)
ARCH=$(uname -m)
PIP=("$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all:
     --require-hashes --dest "$WHEELS")

# 1. This machine's interpreter and platform (required).
"${PIP[@]}" -r "$REQ" ||
    die "pip download failed for $("$PYTHON" -V 2>&1); is the package registry reachable?"
got="this machine ($("$PYTHON" -V 2>&1), $ARCH)"

# pip evaluates environment markers for the running Python, not the target one,
# so the pins (and their hashes) are selected per target version first.
pins_for() {  # pins_for VERSION OUTFILE
    "$PYTHON" - "$REQ" "$1" "$ARCH" > "$2" <<'PY'
import sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
req_file, version, arch = sys.argv[1:]
env = {"python_version": version, "python_full_version": version + ".0",
       "implementation_name": "cpython", "platform_python_implementation": "CPython",
       "sys_platform": "linux", "os_name": "posix", "platform_system": "Linux",
       "platform_machine": arch}
text = open(req_file, encoding="utf-8").read().replace("\\\n", " ")
for line in text.splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        spec, *hashes = line.split(" --hash=")
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate(env):
            print(" ".join([f"{req.name}{req.specifier}", *(f"--hash={h.strip()}" for h in hashes)]))
PY
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# 2. CPython 3.9-3.13 on manylinux for this architecture (3.9 required, others best effort).
for version in 3.9 3.10 3.11 3.12 3.13; do
    abi="cp${version/./}"
    pins_for "$version" "$TMP/req-$version.txt" || die "cannot read $REQ"
    if "${PIP[@]}" -r "$TMP/req-$version.txt" --implementation cp --python-version "$version" \
        --abi "$abi" --abi abi3 --abi none --platform "manylinux2014_$ARCH" --platform "manylinux_2_17_$ARCH" \
        --platform "manylinux_2_28_$ARCH" 2>/dev/null; then
        got="$got, CPython $version manylinux $ARCH"
    elif [ "$version" = 3.9 ]; then
        die "pip download failed for CPython 3.9 manylinux $ARCH"
    else
        echo "analyst-kit: warning: no wheels for CPython $version manylinux $ARCH" >&2
    fi
done

# 3. The package itself, fresh each time.
rm -rf "$DIR/keys" "$DIR/forms"
mkdir -p "$DIR/keys" "$DIR/forms"
cp "$ROOT"/keys/*.py "$ROOT/keys/SPEC.md" "$DIR/keys/"
for sub in "$ROOT"/keys/*/; do  # subpackages (keys/evidence, keys/findings), .py files only
    [ -f "$sub/__init__.py" ] || continue
    name=$(basename "$sub")
    mkdir -p "$DIR/keys/$name"
    cp "$sub"*.py "$DIR/keys/$name/"
done
cp "$ROOT/app/forms/election.toml" "$DIR/forms/"  # the labels of `keys summary`
cp "$REQ" "$DIR/requirements-analyst.txt"

cat > "$DIR/INSTALL.txt" <<TXT
Skrynka analyst kit: offline install on the air-gapped laptop
=============================================================

Wheels included for: $got.
Needs Python 3.9 or newer (python3 -V). Nothing here connects to any network.

0. Check the kit before anything else, in a terminal inside this folder on the laptop.
   Whoever built it gave you, in person or by phone (never with the kit, never by
   the same USB stick or message), the hash of SHA256SUMS: a line of 64 letters and
   digits. Compare it, every character, with:

     sha256sum SHA256SUMS

   Then check every file of the kit against SHA256SUMS; each line must say OK:

     sha256sum -c SHA256SUMS

   If a hash differs or a line says FAILED, stop: do not install or run anything
   from this kit, and tell the person who built it.

1. Install (the wheels are checked again, each against its hash in
   requirements-analyst.txt: pip refuses any wheel that differs):

     python3 -m venv venv
     venv/bin/pip install --no-index --find-links wheels --require-hashes -r requirements-analyst.txt

   The wheels are for Linux ($ARCH) only; another system needs its own kit.

   Run every command below inside this folder: python finds keys/ here.

2. Make your key (once). It asks a passphrase twice: five or more random words
   (diceware); one under 16 characters, with under 10 different characters or
   mostly runs like "aaaa"/"1234" is refused. Keep the .key file offline, back it
   up, and give ONLY the .pub line to the server operator:

     venv/bin/python -m keys keygen --out analyst.key
     venv/bin/python -m keys pubkey analyst.key

3. Decrypt batches (the .skb files the operator exports) into a folder:

     venv/bin/python -m keys decrypt --key analyst.key --out reports --signer KEY batch-*.skb

   KEY is the server's export key: the skrynka-export1... line the operator
   gives you in person (once; the folder remembers it). The folder then refuses
   (exit code 30) batches signed by any other key, unsigned batches, and a new
   server chain (--new-chain accepts one after you asked the operator). Without
   the key at hand, --trust-first-signer trusts the first batches' key and prints
   its fingerprint: compare it with the operator's. Two versions of one report
   number are both kept, under reports/quarantine/, and named.
   Each report becomes reports/<id>/ (report.json and attachments), plus
   reports/reports.csv and reports/reports.jsonl, and reports/citations.csv:
   which report cites which earlier one by its receipt code (a code no report
   has yet is "unresolved", counted in the last line). Run it again with new
   batches and the same --out folder: it checks that no report is missing or
   altered, and links new reports with earlier ones both ways.
   Exit code 0 means every report decrypted and verified.

4. Count the reports for the published report (static pages, CSV tables):

     venv/bin/python -m keys summary reports --lang en

   It writes reports/summary/: open reports/summary/index.html in a browser (it
   needs no network and no JavaScript). The report pages and
   tables/reports.csv hold the reports' full text: review before publishing.

5. Change the passphrase:   venv/bin/python -m keys passwd analyst.key
   Help:                    venv/bin/python -m keys --help

The file formats are in keys/SPEC.md.
TXT

# 4. The checksums of every file in the kit (but SHA256SUMS itself), written last.
rm -f "$DIR/SHA256SUMS"
(cd "$DIR" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum) \
    > "$TMP/SHA256SUMS" && mv "$TMP/SHA256SUMS" "$DIR/SHA256SUMS" ||
    die "cannot write $DIR/SHA256SUMS"
sums=$(sha256sum < "$DIR/SHA256SUMS" | cut -d' ' -f1)

echo "analyst-kit: $DIR ready: $(ls "$WHEELS" | wc -l) wheels; $got"
echo "analyst-kit: give the analysts this hash of SHA256SUMS in person or by phone, not with the kit:"
echo "$sums  SHA256SUMS"
