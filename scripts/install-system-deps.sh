#!/usr/bin/env bash
# Installs the Debian packages that the letter tests and benchmarks need, only when missing:
#   chromium       headless browser for bench/letters (HTML -> PDF comparison) and browser tests
#   poppler-utils  pdftotext / pdffonts / pdfinfo used by libs/letters tests
#   fonts-noto-cjk Chinese glyphs for Chromium (browser test screenshots such as test-output/editor.png)
#   fonts-hanazono HanaMin A/B (OFL): the letters' fallback fonts for CJK Extension B and beyond (𠮷 U+20BB7),
#                  subset into letter PDFs after Noto Sans SC (libs/letters/src/fonts.ts)
#   ghostscript mupdf-tools  gs / mutool: the letter tests check rare glyphs render in Ghostscript and MuPDF too
#   g++ make python3  node-gyp builds the `re2` addon (linear-time regular expressions for template schemas)
#                  during `npm ci` when no prebuilt binary can be downloaded (and the `pkcs11js` addon)
#   softhsm2       software PKCS#11 token for the HSM signer tests (libs/evidence signer-pkcs11)
#   opensc         pkcs11-tool, used by scripts/hsm-init.sh to generate the Ed25519 key in a token
# Idempotent; safe to run as root with CI=true and no stdin. `apt-get update` is skipped when
# everything is already present.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# package -> a file it installs (checked to exist).
declare -A wanted=(
  [chromium]=/usr/bin/chromium
  [poppler-utils]=/usr/bin/pdftotext
  [fonts-noto-cjk]=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
  [fonts-hanazono]=/usr/share/fonts/truetype/hanazono/HanaMinB.ttf
  [ghostscript]=/usr/bin/gs
  [mupdf-tools]=/usr/bin/mutool
  [g++]=/usr/bin/g++
  [make]=/usr/bin/make
  [python3]=/usr/bin/python3
  [softhsm2]=/usr/lib/softhsm/libsofthsm2.so
  [opensc]=/usr/bin/pkcs11-tool
)

missing=()
for pkg in "${!wanted[@]}"; do
  bin="${wanted[$pkg]}"
  if [[ -e "$bin" ]] && dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    continue
  fi
  missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system-deps: all present (${!wanted[*]})"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "install-system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

# Sort for a stable install order in logs.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort)
echo "install-system-deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq </dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

for pkg in "${missing[@]}"; do
  if [[ ! -e "${wanted[$pkg]}" ]]; then
    echo "install-system-deps: ${pkg} installed but ${wanted[$pkg]} is missing" >&2
    exit 1
  fi
done
echo "install-system-deps: done"
