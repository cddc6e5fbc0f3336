#!/usr/bin/env bash
# Install the Debian packages Skrynka needs, only those missing.
#   system-deps.sh run   tor (for `make run`)
#   system-deps.sh test  tor, chromium, fonts, PostgreSQL, OpenSSH's ssh-keygen (for `make test`;
#                        tests/onion/test_sshsig.py checks announcements with `ssh-keygen -Y verify`),
#                        and a Java runtime for the W3C HTML checker (testkit/htmlcheck.py)
set -euo pipefail
want=(tor)
if [ "${1:-run}" = test ]; then
    want+=(chromium fonts-dejavu-core postgresql openssh-client default-jre-headless)
fi
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a system tor on install; Skrynka runs its own, so stop that one.
if printf '%s\n' "${missing[@]}" | grep -qx tor; then
    (systemctl disable --now tor 2>/dev/null || service tor stop 2>/dev/null) || true
fi
