#!/usr/bin/env bash
# Build the real-material evaluation corpus from Debian packages (see docs/corpus.md).
#
#   scripts/corpus.sh            # into $MIXBRIDGE_CORPUS or ~/.cache/mixbridge/corpus
#
# Idempotent: a complete corpus of the current version is left alone in well under a
# second; a partial one is completed. Tools (sox, fluidsynth + FluidR3_GM, festival
# with two diphone voices, espeak-ng, alsa-utils' recordings) are installed with apt-get
# when missing and we are root; the music packages are only downloaded and unpacked
# (apt-get download + dpkg-deb -x), never installed, and their .debs are deleted after.
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS="${MIXBRIDGE_CORPUS:-$HOME/.cache/mixbridge/corpus}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

if "$PY" scripts/corpus.py --check "$CORPUS" 2>/dev/null; then
  echo "corpus up to date: $CORPUS"
  exit 0
fi

TOOLS=(sox fluidsynth fluid-soundfont-gm festival festvox-kallpc16k festvox-kdlpc16k espeak-ng alsa-utils)
need=()
for pkg in "${TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "corpus.sh: missing Debian packages: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

# Music packages: download and unpack only what the corpus still lacks.
mkdir -p "$CORPUS/.debs"
for pkg in $("$PY" scripts/corpus.py --needed-packages "$CORPUS"); do
  if [ ! -d "$CORPUS/.debs/$pkg" ]; then
    # (as root apt warns that its _apt user cannot write here; the download is fine)
    (cd "$CORPUS/.debs" && apt-get download -q "$pkg" 2>&1 >/dev/null | { grep -v "unsandboxed" || true; } >&2)
    dpkg-deb -x "$CORPUS/.debs/${pkg}"_*.deb "$CORPUS/.debs/$pkg.tmp"
    mv "$CORPUS/.debs/$pkg.tmp" "$CORPUS/.debs/$pkg"
    rm -f "$CORPUS/.debs/${pkg}"_*.deb
  fi
done

"$PY" scripts/corpus.py --build "$CORPUS"
rm -rf "$CORPUS/.debs"
