#!/bin/sh
# Regenerates the OpenSSL-made AUTH signature fixtures used by
# TestVerifyAuthOpenSSLFixtures (oakley/signature_test.go). Run from this
# directory with OpenSSL 3 (made with OpenSSL 3.0.19). The private keys are
# thrown away; only public keys, the signed octets and the signatures stay.
#
# Each signature is made with `openssl pkeyutl -sign -rawin` over octets.bin,
# i.e. OpenSSL hashes the file itself, so the fixtures prove that our
# hashing, padding and AlgorithmIdentifier choice agree with OpenSSL's.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf 'ikegate IKE_AUTH signed octets fixture: RealMessage1 | Nr | prf(SK_pi, IDi)\n' > octets.bin

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/p256.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.pem"
openssl genpkey -algorithm ED25519 -out "$tmp/ed25519.pem"
for k in rsa p256 p384 ed25519; do
	openssl pkey -in "$tmp/$k.pem" -pubout -out "$k.pub.pem"
done

sign() { # key out digest [pkeyopts...]
	key=$1 out=$2 dg=$3
	shift 3
	openssl pkeyutl -sign -rawin -in octets.bin -inkey "$tmp/$key.pem" -digest "$dg" "$@" -out "$out"
}
sign rsa rsa-pkcs1-sha1.sig sha1 -pkeyopt rsa_padding_mode:pkcs1
sign rsa rsa-pkcs1-sha256.sig sha256 -pkeyopt rsa_padding_mode:pkcs1
sign rsa rsa-pkcs1-sha512.sig sha512 -pkeyopt rsa_padding_mode:pkcs1
sign rsa rsa-pss-sha256.sig sha256 -pkeyopt rsa_padding_mode:pss \
	-pkeyopt rsa_pss_saltlen:digest -pkeyopt rsa_mgf1_md:sha256
sign rsa rsa-pss-sha384.sig sha384 -pkeyopt rsa_padding_mode:pss \
	-pkeyopt rsa_pss_saltlen:digest -pkeyopt rsa_mgf1_md:sha384
sign p256 p256-sha256.sig sha256
sign p384 p384-sha384.sig sha384
openssl pkeyutl -sign -rawin -in octets.bin -inkey "$tmp/ed25519.pem" -out ed25519.sig
