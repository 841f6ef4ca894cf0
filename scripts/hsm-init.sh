#!/usr/bin/env bash
# Creates a SoftHSM2 token holding an Ed25519 evidence signing key pair, for EVIDENCE_SIGNER=pkcs11
# (docs/evidence.md, "Keys in an HSM"). Needs the Debian packages softhsm2 and opensc
# (scripts/install-system-deps.sh installs both).
#
#   PKCS11_TOKEN_LABEL=evidence PKCS11_KEY_LABEL=evidence-signing \
#   PKCS11_PIN_FILE=/etc/notice/hsm-pin PKCS11_SO_PIN_FILE=/etc/notice/hsm-so-pin scripts/hsm-init.sh
#
# Environment:
#   PKCS11_MODULE        PKCS#11 library (default /usr/lib/softhsm/libsofthsm2.so)
#   PKCS11_TOKEN_LABEL   token to create (default evidence); reused when it exists already
#   PKCS11_KEY_LABEL     label of the key pair (default evidence-signing)
#   PKCS11_PIN / PKCS11_PIN_FILE         user PIN (required; the file form keeps it out of `ps`)
#   PKCS11_SO_PIN / PKCS11_SO_PIN_FILE   security officer PIN (required to create the token)
#   SOFTHSM2_CONF        SoftHSM2 configuration (its directories.tokendir holds the token files)
#
# The PINs reach softhsm2-util / pkcs11-tool as arguments (visible in `ps` while they run): run it on the
# host that holds the token, not on a shared machine.
#
# Idempotent: an existing token is kept, an existing key pair with the label is kept (its public key
# is printed again). The private key is generated inside the token as sensitive and not
# extractable; only the public key (SPKI PEM) leaves it, on stdout.
set -euo pipefail

MODULE="${PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
TOKEN="${PKCS11_TOKEN_LABEL:-evidence}"
KEY="${PKCS11_KEY_LABEL:-evidence-signing}"

secret() { # name of the variable, name of the _FILE variable
  local v="${!1:-}" f="${!2:-}"
  if [[ -n "$f" ]]; then
    v="$(<"$f")"
    v="${v%$'\n'}"
  fi
  printf '%s' "$v"
}
PIN="$(secret PKCS11_PIN PKCS11_PIN_FILE)"
if [[ -z "$PIN" ]]; then
  echo "hsm-init: set PKCS11_PIN or PKCS11_PIN_FILE" >&2
  exit 2
fi

for cmd in softhsm2-util pkcs11-tool openssl; do
  command -v "$cmd" >/dev/null || {
    echo "hsm-init: $cmd is missing (scripts/install-system-deps.sh installs softhsm2 and opensc)" >&2
    exit 1
  }
done
[[ -e "$MODULE" ]] || {
  echo "hsm-init: PKCS#11 module $MODULE not found" >&2
  exit 1
}

if softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+${TOKEN}[[:space:]]*$"; then
  echo "hsm-init: token '${TOKEN}' exists" >&2
else
  SO_PIN="$(secret PKCS11_SO_PIN PKCS11_SO_PIN_FILE)"
  if [[ -z "$SO_PIN" ]]; then
    echo "hsm-init: set PKCS11_SO_PIN or PKCS11_SO_PIN_FILE to create token '${TOKEN}'" >&2
    exit 2
  fi
  softhsm2-util --init-token --free --label "$TOKEN" --so-pin "$SO_PIN" --pin "$PIN" >/dev/null
  echo "hsm-init: created token '${TOKEN}'" >&2
fi

p11=(pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin "$PIN")

if "${p11[@]}" --list-objects --type privkey 2>/dev/null | grep -Eq "label:[[:space:]]+${KEY}[[:space:]]*$"; then
  echo "hsm-init: key pair '${KEY}' exists" >&2
else
  # SoftHSM2 marks generated private keys sensitive and, without --extractable, not extractable.
  "${p11[@]}" --keypairgen --key-type EC:edwards25519 --label "$KEY" --id 01 --usage-sign >/dev/null
  echo "hsm-init: generated Ed25519 key pair '${KEY}'" >&2
fi

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
# pkcs11-tool writes an EC_EDWARDS public key as SPKI PEM; openssl checks it parses as Ed25519.
"${p11[@]}" --read-object --type pubkey --label "$KEY" --output-file "$tmp" >/dev/null 2>&1
openssl pkey -pubin -in "$tmp" -outform PEM
