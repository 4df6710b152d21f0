# shellcheck shell=bash
# The attacker pass over the broker and the certificates (issue 12, "Done when"): a hostile
# provider (the travel provider, with its real certificate and password) and anyone holding a
# certificate the Hub did not issue, against the real RabbitMQ of the stack, after
# scripts/broker-permissions. Every attempt must be refused by the broker. Sourced by
# 09_broker_contract.sh, whose stack, helpers (refused, allowed, request, tsp, hub) and TAP
# counters it uses.

# --- forged identities: certificates the Hub did not issue, or issued wrongly --------------------
A=$W/attack
mkdir -p "$A"
# openssl ca signs with any validity period (x509 -req cannot date a certificate in the past).
cat >"$A/ca.cnf" <<EOF
[ ca ]
default_ca = attack
[ attack ]
database = $A/index.txt
new_certs_dir = $A
serial = $A/serial
crlnumber = $A/crlnumber
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = optional
organizationName = optional
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF
: >"$A/index.txt"
echo 01 >"$A/serial"
echo 01 >"$A/crlnumber"
# leaf NAME SUBJECT CA_PEM CA_KEY [START END]: a client certificate $A/NAME.pem and key.
leaf() {
    local name=$1 subject=$2 ca=$3 cakey=$4 validity=(-days 30)
    (($# > 4)) && validity=(-startdate "$5" -enddate "$6")
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$A/$name.key" 2>/dev/null
    openssl req -new -key "$A/$name.key" -subj "$subject" -out "$A/$name.csr" 2>/dev/null
    openssl ca -batch -config "$A/ca.cnf" -cert "$ca" -keyfile "$cakey" -in "$A/$name.csr" -out "$A/$name.pem" \
        -extensions client -notext "${validity[@]}" >/dev/null 2>&1
}
# A rogue CA of the attacker's own, which signs a certificate for the Hub's CN.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$A/rogue-ca.key" 2>/dev/null
openssl req -x509 -new -key "$A/rogue-ca.key" -out "$A/rogue-ca.pem" -days 30 -subj "/O=hublink test/CN=hublink test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf rogue-hub "/O=hublink test/CN=hub" "$A/rogue-ca.pem" "$A/rogue-ca.key"
# The Hub's own CA (as if its key leaked into a careless process) signing certificates that are
# expired, that have no CN, or whose CN is no broker user.
leaf expired "/O=hublink test/CN=tsp" "$HUBLINK_TLS_CA" "$HUBLINK_TLS_DIR/ca.key" 20200101000000Z 20200201000000Z
leaf no-cn "/O=hublink test" "$HUBLINK_TLS_CA" "$HUBLINK_TLS_DIR/ca.key"
leaf stranger "/O=hublink test/CN=mallory" "$HUBLINK_TLS_CA" "$HUBLINK_TLS_DIR/ca.key"
check "the attack certificates were made (rogue CN=hub, expired, no CN, unknown CN)" \
    test -s "$A/rogue-hub.pem" -a -s "$A/expired.pem" -a -s "$A/no-cn.pem" -a -s "$A/stranger.pem"
check_eq "the expired certificate is the Hub CA's own, but expired" "error 10 at 0 depth lookup: certificate has expired" \
    "$(openssl verify -CAfile "$HUBLINK_TLS_CA" "$A/expired.pem" 2>&1 | grep -o 'error 10 at 0 depth lookup: certificate has expired')"

# login_refused WHAT ARGS...: a passive declare (needs a login, no permission) fails with exit 2
# (connection or login refused); with a note of what the broker said.
login_refused() {
    local what=$1 out rc
    shift
    out=$("$HUBTOOL_BIN" "$@" count escort-quote-request 2>&1 </dev/null)
    rc=$?
    if ((rc == 2)); then ok "refused by the broker: $what"; else not_ok "refused by the broker: $what (exit $rc: $out)"; fi
}
login_refused "a certificate for CN=hub from a rogue CA" --cert "$A/rogue-hub.pem" --key "$A/rogue-hub.key"
login_refused "an expired certificate of the Hub's CA for CN=tsp" --cert "$A/expired.pem" --key "$A/expired.key"
login_refused "a certificate of the Hub's CA with no CN" --cert "$A/no-cn.pem" --key "$A/no-cn.key"
login_refused "a certificate of the Hub's CA whose CN is no broker user" --cert "$A/stranger.pem" --key "$A/stranger.key"

# Revocation: the broker checks the CA's revocation list (scripts/stack write_crl) for every new
# connection. A certificate of the Hub's CA for CN=tsp works until the CA revokes it.
leaf to-revoke "/O=hublink test/CN=tsp" "$HUBLINK_TLS_CA" "$HUBLINK_TLS_DIR/ca.key"
allowed "a new certificate of the Hub's CA for CN=tsp, not revoked, logs in" \
    "$HUBTOOL_BIN" --cert "$A/to-revoke.pem" --key "$A/to-revoke.key" count travel-quote-request
# The CA's list, drawn from this test's own CA database ($A/index.txt), where the broker reads it.
ca_db=(-batch -config "$A/ca.cnf" -cert "$HUBLINK_TLS_CA" -keyfile "$HUBLINK_TLS_DIR/ca.key")
mkdir -p "$HUBLINK_TLS_DIR/crl"
openssl ca "${ca_db[@]}" -revoke "$A/to-revoke.pem" >/dev/null 2>&1 &&
    openssl ca "${ca_db[@]}" -gencrl -crldays 30 -out "$HUBLINK_TLS_DIR/crl/ca.crl.pem" >/dev/null 2>&1 &&
    openssl rehash "$HUBLINK_TLS_DIR/crl" >/dev/null 2>&1 ||
    not_ok "the CA revokes the certificate and publishes its revocation list"
out=$("$HUBTOOL_BIN" --cert "$A/to-revoke.pem" --key "$A/to-revoke.key" count travel-quote-request 2>&1)
rc=$?
if ((rc == 2)) && [[ $out == *"SSL error"* ]]; then
    ok "refused by the broker: the same certificate once revoked (at the TLS handshake)"
else
    not_ok "refused by the broker: the same certificate once revoked (exit $rc: $out)"
fi
allowed "tsp's own certificate, not revoked, still logs in" tsp count travel-quote-request

# --- password logins: the travel provider tries to be the Hub or the escort provider --------------
printf '%s' 'not-the-password' >"$A/wrong.password"
cp "$HUBLINK_TSP_PASSWORD_FILE" "$A/tsp.password"
printf '%s' hub >"$A/guess.password"
printf '%s' guest >"$A/guest.password"
login_refused "PLAIN as hub with tsp's password, over TLS" --cert "$HUBLINK_TLS_TSP_CERT" --key "$HUBLINK_TLS_TSP_KEY" \
    --ca "$HUBLINK_TLS_CA" --user hub --password-file "$A/tsp.password"
login_refused "PLAIN as esp with a wrong password, over TLS" --cert "$HUBLINK_TLS_TSP_CERT" --key "$HUBLINK_TLS_TSP_KEY" \
    --ca "$HUBLINK_TLS_CA" --user esp --password-file "$A/wrong.password"
login_refused "PLAIN as hub with a guessed password, plain AMQP" --plain --user hub --password-file "$A/guess.password"
login_refused "PLAIN as esp with tsp's password, plain AMQP" --plain --user esp --password-file "$A/tsp.password"
login_refused "PLAIN as the broker's admin with tsp's password, plain AMQP" --plain --user admin --password-file "$A/tsp.password"
login_refused "the default guest/guest, plain AMQP" --plain --user guest --password-file "$A/guest.password"
login_refused "the default guest/guest, over TLS" --cert "$HUBLINK_TLS_TSP_CERT" --key "$HUBLINK_TLS_TSP_KEY" \
    --ca "$HUBLINK_TLS_CA" --user guest --password-file "$A/guest.password"
login_refused "plain AMQP with no password (EXTERNAL needs a certificate)" --plain
login_refused "PLAIN as tsp with its own right password, plain AMQP (the stack opens no plain listener)" \
    --plain --user tsp --password-file "$A/tsp.password"

# --- what tsp may not do with its own, valid identity ---------------------------------------------
for x in amq.direct amq.fanout amq.topic amq.headers amq.match; do
    refused "tsp publishes through the built-in exchange $x" \
        tsp --exchange "$x" publish escort-quote-request "$(request 920)"
done
refused "tsp publishes to the Hub's queue escort-quote-response through the escort provider's exchange" \
    tsp --exchange hublink.esp publish escort-quote-response "$(request 921)"
refused "tsp publishes to the Hub's queue escort-quote-response through the default exchange" \
    tsp --exchange '' publish escort-quote-response "$(request 922)"
out=$(tsp --user-id esp publish travel-quote-response "$(request 923)" 2>&1)
if [[ $out == *"406"*"PRECONDITION_FAILED"* ]]; then
    ok "refused by the broker: tsp publishing to the Hub as user_id esp"
else
    not_ok "refused by the broker: tsp publishing to the Hub as user_id esp ($out)"
fi
out=$(tsp publish escort-quote-response "$(request 924)" 2>&1)
check_eq "tsp's own exchange does not route to the Hub's queue escort-quote-response (returned)" "3" "$?"
refused "tsp binds its own queue travel-quote-request to the Hub's exchange (to copy Hub->ESP traffic)" \
    tsp bind travel-quote-request hublink.hub escort-quote-request
refused "tsp binds its own queue to the escort provider's exchange" \
    tsp bind travel-quote-request hublink.esp escort-quote-response
refused "tsp declares the Hub's exchange" tsp declare-exchange hublink.hub
refused "tsp reads the Hub's queue escort-quote-response" tsp get escort-quote-response
refused "tsp purges the Hub's queue escort-quote-response" tsp purge escort-quote-response
refused "tsp deletes its own queue travel-quote-request" tsp delete travel-quote-request
refused "tsp declares a queue in the broker's reserved amq. namespace" tsp declare amq.gen-steal
# Management API: the party users have no management tag (the Hub's operator is admin).
if [[ -n ${MGMT_PORT:-} ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "tsp:$(cat "$HUBLINK_TSP_PASSWORD_FILE")" \
        "http://127.0.0.1:$MGMT_PORT/api/queues" 2>/dev/null)
    check_eq "the management API refuses tsp's password (no management tag)" "401" "$code"
fi
check_eq "after all this, the broker's user list is still admin, esp, hub, tsp" "admin esp hub tsp" \
    "$("$RABBITMQCTL" -q list_users --formatter json 2>/dev/null | jq -r '[.[].user] | sort | join(" ")')"
check_eq "and tsp's permissions are still the derived ones (configure nothing)" "^$" \
    "$("$RABBITMQCTL" -q list_user_permissions tsp --formatter json 2>/dev/null | jq -r '.[0].configure')"
