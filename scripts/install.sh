#!/usr/bin/env bash
# Install what the project needs, idempotently: Debian packages (when root) and a
# virtualenv in .venv with the locked Python packages. Fast when nothing changed.
#
#   scripts/install.sh          runtime only: what `make run` needs (a production install)
#   scripts/install.sh --test   runtime + test and browser tooling (`make test`, `make bench`)
#
# Both modes install with the exact versions in constraints.txt. Each mode has its own
# stamp in .venv; --test also writes the runtime stamp (it installs a superset).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=runtime
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "usage: scripts/install.sh [--test]" >&2; exit 2 ;;
esac

# Runtime: matplotlib's build (freetype, qhull, pkg-config) and the PDF font.
DEBS=(libfreetype-dev libqhull-dev pkg-config fonts-dejavu-core)
# Tests only: the browser for Playwright, and PostgreSQL and Redis servers the tests start on
# loopback (in production a city runs its own PostgreSQL/Redis: DATABASE_URL, REDIS_URL).
TEST_DEBS=(chromium postgresql redis-server)
REQS=(requirements.txt)
if [ "$mode" = test ]; then
  DEBS+=("${TEST_DEBS[@]}")
  REQS+=(requirements-test.txt)
fi

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
digest() { cat "$@" constraints.txt | sha256sum | cut -d' ' -f1; }
stamp=.venv/.installed-$mode
want=$(digest "${REQS[@]}")
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p build
  printf '[libs]\nsystem_freetype = true\nsystem_qhull = true\n' > build/mplsetup.cfg
  export MPLSETUPCFG="$PWD/build/mplsetup.cfg"
  .venv/bin/python -m pip install -q --upgrade "pip==24.3.1"
  # Rasa 3.6 declares Python <3.11 but works on 3.11 with the pins in constraints.txt.
  # requirements-test.txt includes requirements.txt (-r).
  .venv/bin/python -m pip install -q --ignore-requires-python -r "${REQS[-1]}" -c constraints.txt
  echo "$want" > "$stamp"
  if [ "$mode" = test ]; then digest requirements.txt > .venv/.installed-runtime; fi
fi
echo "Python packages ($mode) are installed in .venv"
