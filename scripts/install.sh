#!/usr/bin/env bash
# Install everything the project needs, idempotently: Debian packages (when root),
# a virtualenv in .venv with the locked Python packages. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(libfreetype-dev libqhull-dev pkg-config chromium fonts-dejavu-core postgresql redis-server)
missing=()
for pkg in "${DEBS[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Please install these Debian packages first (as root): ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.installed
want=$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p build
  printf '[libs]\nsystem_freetype = true\nsystem_qhull = true\n' > build/mplsetup.cfg
  export MPLSETUPCFG="$PWD/build/mplsetup.cfg"
  .venv/bin/python -m pip install -q --upgrade "pip==24.3.1"
  # Rasa 3.6 declares Python <3.11 but works on 3.11 with the pins in constraints.txt.
  .venv/bin/python -m pip install -q --ignore-requires-python -r requirements.txt -c constraints.txt
  echo "$want" > "$stamp"
fi
echo "Python packages are installed in .venv"
