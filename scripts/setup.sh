#!/usr/bin/env bash
# One-shot, idempotent set-up for notify_rules: Debian packages, PostgreSQL, Odoo 18.0 source,
# a virtualenv with Odoo's requirements, and an addons path in which this checkout is `notify_rules`.
# Everything is cached outside the repository (NOTIFY_RULES_CACHE), so a second run is quick.
# Prints the cache directory's env file path on its last line for the callers (run.sh, test.sh).
set -euo pipefail
# Only the env file's path goes to stdout (callers capture it); everything else, ours or a tool's
# (pg_ctlcluster prints "Removed stale pid file." on stdout), goes to stderr.
exec 3>&1 1>&2

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${NOTIFY_RULES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/notify_rules}"
ODOO_DIR="$CACHE/odoo-18.0"
VENV="$CACHE/venv"
ADDONS_LINK_DIR="$CACHE/addons"
PY="${PYTHON:-python3}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf 'notify_rules setup: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE"

# --- 1. Debian packages (only what is missing) -------------------------------------------------
need_pkgs=()
for p in libldap2-dev libsasl2-dev libpq-dev postgresql chromium; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing system packages (${need_pkgs[*]}) and no apt-get: install them by hand."
  log "installing Debian packages: ${need_pkgs[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# Odoo builds its right-to-left stylesheets (Arabic) with the rtlcss command; without it, it serves the
# left-to-right ones and only logs a warning. From npm, as Odoo's own install guide says.
if ! command -v rtlcss >/dev/null; then
  if ! command -v npm >/dev/null; then
    command -v apt-get >/dev/null || die "rtlcss (npm) is missing and there is no apt-get to install npm: install rtlcss by hand."
    log "installing Debian packages: nodejs npm (for rtlcss)"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >&2
  fi
  log "installing rtlcss (right-to-left stylesheets for Arabic)"
  $SUDO npm install -g --silent rtlcss@4 >&2
fi

# --- 2. PostgreSQL running, with a superuser role for the current user --------------------------
if command -v pg_lsclusters >/dev/null; then
  read -r pg_ver pg_cluster pg_status < <(pg_lsclusters -h | awk 'NR==1{print $1, $2, $4}')
  if [ -n "${pg_ver:-}" ] && [ "$pg_status" != "online" ]; then
    log "starting PostgreSQL $pg_ver/$pg_cluster"
    # 3>&-: the server must not inherit the caller's captured stdout, or $(setup.sh) never ends.
    $SUDO pg_ctlcluster "$pg_ver" "$pg_cluster" start 3>&-
  fi
fi
me="$(id -un)"
if ! psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  log "creating PostgreSQL superuser role $me"
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "createuser -s '$me'" || true
  else
    sudo -u postgres createuser -s "$me" || true
  fi
  psql -d postgres -Atc 'select 1' >/dev/null 2>&1 || die "cannot connect to PostgreSQL as '$me'."
fi

# --- 3. Odoo 18.0 source -----------------------------------------------------------------------
if [ ! -f "$ODOO_DIR/odoo-bin" ]; then
  tmp="$ODOO_DIR.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if [ -n "${ODOO_SRC:-}" ]; then
    if [ -f "$ODOO_SRC/odoo-bin" ]; then
      log "copying Odoo source tree from ODOO_SRC"
      cp -a "$ODOO_SRC/odoo" "$ODOO_SRC/addons" "$ODOO_SRC/odoo-bin" "$ODOO_SRC/requirements.txt" "$tmp/"
    elif git --git-dir="$ODOO_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1 \
         || git -C "$ODOO_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1; then
      gd="$ODOO_SRC"; git --git-dir="$gd" rev-parse -q HEAD >/dev/null 2>&1 || gd="$ODOO_SRC/.git"
      log "extracting Odoo from git dir ODOO_SRC"
      git --git-dir="$gd" archive --format=tar HEAD odoo addons odoo-bin requirements.txt | tar -x -C "$tmp"
    else
      die "ODOO_SRC=$ODOO_SRC is neither an Odoo source tree (with odoo-bin) nor a git directory."
    fi
  else
    log "no ODOO_SRC and no cached copy: cloning odoo/odoo branch 18.0 (shallow)"
    if ! git clone -q --depth 1 --branch 18.0 https://github.com/odoo/odoo.git "$tmp/clone" >/dev/null 2>&1; then
      rm -rf "$tmp"
      die "Odoo 18.0 source not found: set ODOO_SRC to an Odoo 18.0 source tree or git directory (cloning odoo/odoo failed)."
    fi
    mv "$tmp/clone"/{odoo,addons,odoo-bin,requirements.txt} "$tmp/"; rm -rf "$tmp/clone"
  fi
  grep -q "version_info = (18, 0" "$tmp/odoo/release.py" || { rm -rf "$tmp"; die "the Odoo source given is not 18.0."; }
  rm -rf "$ODOO_DIR"; mv "$tmp" "$ODOO_DIR"
fi

# --- 4. Virtualenv with Odoo's requirements ----------------------------------------------------
req_stamp="$VENV/.notify_rules-$(cat "$ODOO_DIR/requirements.txt" "$REPO_DIR/scripts/requirements-dev.txt" | sha1sum | cut -c1-12)"
if [ ! -f "$req_stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  constraints="$CACHE/pip-constraints.txt"
  # cbor2 5.4.2 does not build with setuptools>=80; restate the machine's torch cap, as PIP_CONSTRAINT overrides it.
  printf 'setuptools<80\ntorch<=2.14.1\n' > "$constraints"
  log "installing Odoo's requirements into $VENV (a few minutes the first time)"
  PIP_CONSTRAINT="$constraints" "$VENV/bin/pip" install -q --disable-pip-version-check \
    -r "$ODOO_DIR/requirements.txt" -r "$REPO_DIR/scripts/requirements-dev.txt" >&2
  # A fresh venv's setuptools 65 cannot see zope.interface 8 (gevent worker crash-loop).
  PIP_CONSTRAINT="$constraints" "$VENV/bin/pip" install -q --disable-pip-version-check 'setuptools>=75,<80' >&2
  rm -f "$VENV"/.notify_rules-*; touch "$req_stamp"
fi

# --- 5. Addons path in which this checkout is named notify_rules -------------------------------
mkdir -p "$ADDONS_LINK_DIR"
if [ "$(readlink "$ADDONS_LINK_DIR/notify_rules" 2>/dev/null)" != "$REPO_DIR" ]; then
  ln -sfn "$REPO_DIR" "$ADDONS_LINK_DIR/notify_rules"
fi

cat > "$CACHE/env.sh" <<ENV
NOTIFY_CACHE='$CACHE'
ODOO_DIR='$ODOO_DIR'
VENV='$VENV'
ADDONS_PATH='$ODOO_DIR/odoo/addons,$ODOO_DIR/addons,$ADDONS_LINK_DIR'
MODULE_DIR='$ADDONS_LINK_DIR/notify_rules'
ENV
echo "$CACHE/env.sh" >&3
