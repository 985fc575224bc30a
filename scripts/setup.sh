#!/usr/bin/env bash
# Installs everything the explorer and its tests need on a fresh Debian 12 machine
# (run as root): system packages, then a virtualenv in .venv with the project.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  make graphviz                     # `dot` renders the C4 diagrams
  libldap2-dev libsasl2-dev         # build python-ldap (django-auth-ldap)
  slapd ldap-utils openssl          # real OpenLDAP server for the LDAP tests
  chromium fonts-dejavu-core        # headless browser for the browser tests
  postgresql-client libpq-dev       # PostgreSQL, the production database option
  postgresql                        # a real server for tests/test_postgresql.py
  python3-venv
  gettext                           # compilemessages: the Russian translations
  librsvg2-bin                      # rsvg-convert: diagram downloads as PNG
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # slapd's post-install configures a default directory; the tests run their own.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the declared dependencies changed.
stamp=.venv/.pyproject.sha256
if ! sha256sum --status -c "$stamp" 2>/dev/null; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  sha256sum pyproject.toml > "$stamp"
fi
# Translations are compiled here, never committed (.mo files are ignored by git).
.venv/bin/python manage.py compilemessages --ignore=.venv -v 0
echo "setup: done ($(.venv/bin/python --version), Django $(.venv/bin/python -m django --version))"
