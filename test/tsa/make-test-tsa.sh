#!/usr/bin/env bash
# Creates a throw-away test CA and an RFC 3161 TSA certificate signed by it, plus the
# `openssl ts` configuration that test/tsa/server.ts uses to answer time-stamp queries.
# Usage: test/tsa/make-test-tsa.sh DIR      (DIR is created; existing files are replaced)
# Writes: ca.key ca.pem tsa.key tsa.pem tsa.cnf tsaserial
set -euo pipefail
dir="${1:?usage: make-test-tsa.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cd "$dir"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Evidence Test CA (not trusted)" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

cat > tsa-ext.cnf <<'EXT'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout tsa.key -out tsa.csr -subj "/CN=Evidence Test TSA" 2>/dev/null
openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 3650 \
  -extfile tsa-ext.cnf -out tsa.pem 2>/dev/null
rm -f tsa.csr

echo 01 > tsaserial
cat > tsa.cnf <<CNF
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = $dir
serial = \$dir/tsaserial
crypto_device = builtin
signer_cert = \$dir/tsa.pem
certs = \$dir/ca.pem
signer_key = \$dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1.1
other_policies = 1.3.6.1.4.1.55555.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
echo "test TSA ready in $dir"
