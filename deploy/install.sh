#!/usr/bin/env bash
# `make install`: the hardened service from this checkout, on Debian with Debian's tor.
# docs/operators.md is the guide; this script is what "First install" and "Upgrade" run.
#
#   sudo make install                     the whole install, on this machine
#   make install DESTDIR=/tmp/stage       only the files, under /tmp/stage (no root needed)
#   make install PREFIX=/srv/skrynka      the code somewhere else than /opt/skrynka
#
# What goes where:
#   $PREFIX (/opt/skrynka)                the committed tree of HEAD (`git archive`, so
#                                         uncommitted changes are not installed) and its
#                                         runtime virtualenv .venv (`make setup` there);
#                                         root's, read-only to the service
#   /var/lib/skrynka/data                 the data directory, 0700, user skrynka
#   /etc/systemd/system/skrynka.service   deploy/systemd/skrynka.service
#   /etc/systemd/journald@skrynka.conf    deploy/systemd/journald@skrynka.conf (its journal, in memory)
#   /usr/local/bin/skrynka, skrynka-onion deploy/skrynka (python -m app / -m onion as skrynka)
#   /etc/tor/torrc.d/skrynka.conf         torrc.example, included from /etc/tor/torrc
# On this machine it also installs tor (scripts/system-deps.sh), creates the system user
# skrynka, runs `python -m app init` as that user (Alembic migrations), and enables tor
# and skrynka if systemd runs; it starts nothing. With DESTDIR it copies files only.
set -euo pipefail
umask 022

DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
PREFIX=${PREFIX:-/opt/skrynka}
PREFIX=${PREFIX%/}
USER_NAME=skrynka
STATE=/var/lib/skrynka
DATA=$STATE/data
UNIT=/etc/systemd/system/skrynka.service
JOURNAL=/etc/systemd/journald@skrynka.conf
BINDIR=/usr/local/bin
TORRC=/etc/tor/torrc
TORRC_D=/etc/tor/torrc.d
SNIPPET=$TORRC_D/skrynka.conf
INCLUDE="%include $TORRC_D/*.conf"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MARK=.skrynka-install

say() { echo "install: $*"; }
die() {
    echo "install: error: $1" >&2
    [ -z "${2:-}" ] || echo "hint: $2" >&2
    exit 1
}

machine=1
[ -z "$DESTDIR" ] || machine=0
systemd_up=0
[ -d /run/systemd/system ] && systemd_up=1

case $PREFIX in
    /*) ;;
    *) die "PREFIX must be an absolute path, not $PREFIX" ;;
esac

preflight() {
    [ "$(id -u)" -eq 0 ] || die "make install changes this machine (user, tor, systemd): run it as root" \
        "sudo make install; or \`make install DESTDIR=/tmp/stage\` to only stage the files"
    command -v apt-get >/dev/null || die "make install is for Debian (no apt-get here)" \
        "docs/operators.md lists what it does, to do by hand elsewhere"
    if [ "$systemd_up" -eq 1 ] && systemctl is-active --quiet skrynka.service; then
        die "skrynka.service is running" \
            "stop it and back up the data directory first: systemctl stop skrynka (docs/operators.md, \"Upgrade\")"
    fi
}

# The committed tree of HEAD into $DESTDIR$PREFIX; an earlier install's files are replaced
# (its .venv is kept), anything else already there is refused.
copy_code() {
    local dest=$DESTDIR$PREFIX commit
    commit=$(git -C "$SRC" rev-parse --verify -q HEAD) ||
        die "$SRC is not a git checkout with a commit" "install from a clone: git clone …; cd skrynka"
    if [ -d "$dest" ] && [ ! -e "$dest/$MARK" ] && [ -n "$(ls -A "$dest")" ]; then
        die "$dest exists and is not a Skrynka install (no $MARK there)" \
            "choose another PREFIX or empty $dest"
    fi
    [ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
        say "note: uncommitted changes in $SRC are not installed (commit them first)"
    install -d -m 0755 "$dest"
    find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv ! -name "$MARK" -exec rm -rf {} +
    git -C "$SRC" -c tar.umask=0022 archive --format=tar HEAD |
        tar -x -C "$dest" --no-same-owner --no-same-permissions
    echo "$commit" > "$dest/$MARK"
    say "code: $dest (commit ${commit:0:12})"
}

# A copy of a file of ours with /opt/skrynka replaced by PREFIX.
put() {
    local from=$1 to=$DESTDIR$2 mode=$3
    install -d -m 0755 "$(dirname "$to")"
    sed "s|/opt/skrynka|$PREFIX|g" "$from" > "$to.tmp"
    chmod "$mode" "$to.tmp"
    mv -f "$to.tmp" "$to"
}

copy_files() {
    put "$SRC/deploy/systemd/skrynka.service" "$UNIT" 0644
    put "$SRC/deploy/systemd/journald@skrynka.conf" "$JOURNAL" 0644
    put "$SRC/deploy/skrynka" "$BINDIR/skrynka" 0755
    ln -sf skrynka "$DESTDIR$BINDIR/skrynka-onion"
    torrc_changed=0
    if ! cmp -s "$SRC/torrc.example" "$DESTDIR$SNIPPET"; then
        torrc_changed=1
        put "$SRC/torrc.example" "$SNIPPET" 0644
    fi
    say "unit: $DESTDIR$UNIT; commands: $DESTDIR$BINDIR/skrynka, skrynka-onion; tor: $DESTDIR$SNIPPET"
}

system_packages() {
    "$SRC/scripts/system-deps.sh" run     # tor, if missing
    python3 -c 'import ensurepip' 2>/dev/null || {
        say "installing Debian packages: python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    }
}

make_user() {
    if ! getent passwd "$USER_NAME" >/dev/null; then
        useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "Skrynka report drop" "$USER_NAME"
        say "made the system user $USER_NAME (no password, no login shell)"
    fi
    install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$STATE" "$DATA"
}

virtualenv() {
    rm -f "$PREFIX"/.venv/.deps*      # pip checks the requirements again after an upgrade
    make --no-print-directory -C "$PREFIX" setup VENV=.venv PYTHON=/usr/bin/python3
    "$PREFIX/.venv/bin/python" -m compileall -q -x '/\.venv/' "$PREFIX" >/dev/null || true
}

# How many times tor@default's configuration reads our snippet (tor names each file it
# includes); Debian's torrc includes nothing by itself, another may include torrc.d already.
tor_reads_snippet() {
    { tor --defaults-torrc /usr/share/tor/tor-service-defaults-torrc -f "$TORRC" \
        --verify-config 2>&1 || true; } |
        grep -cE "Including configuration file \".*/${SNIPPET##*/}\"" || true
}

tor_include() {
    [ -e "$TORRC" ] || die "no $TORRC: is Debian's tor installed?"
    if [ "$(tor_reads_snippet)" -eq 0 ]; then
        printf '\n# Skrynka (make install): the control socket and cookie it attaches with\n%s\n' \
            "$INCLUDE" >> "$TORRC"
        torrc_changed=1
        say "added \`$INCLUDE\` to $TORRC"
    fi
    local n
    n=$(tor_reads_snippet)
    [ "$n" -eq 1 ] || die "tor reads $SNIPPET $n times, not once" "check the %include lines of $TORRC"
    tor --defaults-torrc /usr/share/tor/tor-service-defaults-torrc -f "$TORRC" \
        --verify-config >/dev/null ||
        die "tor refuses its configuration with $SNIPPET" \
            "run: tor --defaults-torrc /usr/share/tor/tor-service-defaults-torrc -f $TORRC --verify-config"
}

systemd_steps() {
    if [ "$systemd_up" -eq 0 ]; then
        say "systemd is not running here: nothing enabled. On the server run:"
        say "  systemctl daemon-reload && systemctl enable tor skrynka"
        return
    fi
    systemctl daemon-reload
    systemctl enable --quiet tor.service skrynka.service
    if [ "$torrc_changed" -eq 1 ] && systemctl is-active --quiet tor@default.service; then
        systemctl restart tor@default.service
        say "restarted tor@default for the new torrc lines"
    fi
    say "enabled tor and skrynka (they start at boot)"
}

if [ "$machine" -eq 1 ]; then
    preflight
    system_packages
fi
copy_code
copy_files
if [ "$machine" -eq 0 ]; then
    say "staged under $DESTDIR: files only (no packages, user, virtualenv, init, tor or systemd)"
    exit 0
fi
make_user
virtualenv
tor_include
"$BINDIR/skrynka" init
systemd_steps
say "next: analysts' keys into $DATA/analysts.pub (owner $USER_NAME, mode 0600), then"
say "  systemctl start skrynka && skrynka-onion status    (docs/operators.md)"
