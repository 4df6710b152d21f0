# test/e2e/tokens/lib.sh - the token test bed: an MIT KDC, the token service (Apache with
# mod_auth_gssapi and token.cgi) and the broker settings of RabbitMQ's OAuth 2.0 backend. Used by
# test/e2e/tokens/run (one worker) and test/e2e/tokens/three_parties (the three workers).
# Needs TOKENS_HERE (this directory). Sets TOK, REALM, KDC_PORT, TOKEN_PORT, URL.
# shellcheck shell=bash disable=SC2034 # the variables set here are the callers'

REALM=HUBLINK.TEST
TOK=$(mktemp -d /tmp/hublink-e2e-tokens.XXXXXX)
chmod 0755 "$TOK"
KDC_PID='' BLACKHOLE_PID='' APACHE_PID_FILE=$TOK/apache/httpd.pid
stop_token_services() {
    [[ -n $KDC_PID ]] && kill "$KDC_PID" 2>/dev/null
    [[ -n $BLACKHOLE_PID ]] && kill "$BLACKHOLE_PID" 2>/dev/null
    [[ -f $APACHE_PID_FILE ]] && kill "$(cat "$APACHE_PID_FILE")" 2>/dev/null
    sleep 0.3
    [[ -n ${KEEP_STACK:-} ]] || rm -rf "$TOK"
}
# worker_kdc PORT: the workers' own krb5.conf (worker-krb5.conf) names the KDC at PORT; a copy,
# so that a test can point the workers at another KDC without changing a setting.
worker_kdc() {
    sed "s/kdc = 127.0.0.1:[0-9]*/kdc = 127.0.0.1:$1/" "$TOK/krb5.conf" >"$TOK/worker-krb5.conf.new"
    chmod 0644 "$TOK/worker-krb5.conf.new"
    mv "$TOK/worker-krb5.conf.new" "$TOK/worker-krb5.conf"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# tokens_prepare_broker: the signing keys, and RabbitMQ's OAuth 2.0 backend (before the broker starts).
tokens_prepare_broker() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TOK/signing.key" 2>/dev/null
    openssl pkey -in "$TOK/signing.key" -pubout -out "$TOK/signing.pub.pem"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TOK/rogue.key" 2>/dev/null
    chmod 0644 "$TOK/signing.pub.pem"
    export HUBLINK_RABBITMQ_PLUGINS=rabbitmq_auth_backend_oauth2
    export HUBLINK_RABBITMQ_EXTRA="auth_backends.1 = rabbit_auth_backend_oauth2
auth_backends.2 = rabbit_auth_backend_internal
auth_oauth2.resource_server_id = hublink
auth_oauth2.default_key = hublink-test
auth_oauth2.signing_keys.hublink-test = $TOK/signing.pub.pem"
}

# tokens_start_kdc STACK_USER: the KDC, a principal and a keytab for each party (owned by the
# PostgreSQL server's user) and for the token service.
tokens_start_kdc() {
    KDC_PORT=$(free_port)
    mkdir -p "$TOK/kdc"
    cat >"$TOK/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
[realms]
    $REALM = {
        kdc = 127.0.0.1:$KDC_PORT
    }
[domain_realm]
    localhost = $REALM
EOF
    cat >"$TOK/kdc.conf" <<EOF
[kdcdefaults]
    kdc_ports = $KDC_PORT
    kdc_tcp_ports = $KDC_PORT
[realms]
    $REALM = {
        database_name = $TOK/kdc/principal
        key_stash_file = $TOK/kdc/stash
        acl_file = $TOK/kdc/kadm5.acl
        max_life = 10h
    }
[logging]
    kdc = FILE:$TOK/kdc/kdc.log
EOF
    chmod 0644 "$TOK/krb5.conf"
    export KRB5_CONFIG=$TOK/krb5.conf KRB5_KDC_PROFILE=$TOK/kdc.conf
    kdb5_util create -s -r "$REALM" -P "$(openssl rand -hex 16)" >/dev/null 2>&1 || { echo "Bail out! kdb5_util create failed"; exit 1; }
    for p in HTTP/localhost hub tsp esp; do
        kadmin.local -r "$REALM" -q "addprinc -randkey $p@$REALM" >/dev/null 2>&1
    done
    kadmin.local -r "$REALM" -q "ktadd -k $TOK/http.keytab HTTP/localhost@$REALM" >/dev/null 2>&1
    for p in hub tsp esp; do kadmin.local -r "$REALM" -q "ktadd -k $TOK/$p.keytab $p@$REALM" >/dev/null 2>&1; done
    krb5kdc -n -r "$REALM" >"$TOK/kdc/krb5kdc.out" 2>&1 &
    KDC_PID=$!
    worker_kdc "$KDC_PORT"
    chown "$1" "$TOK/hub.keytab" "$TOK/esp.keytab" "$TOK/tsp.keytab"
    chmod 0600 "$TOK"/*.keytab
    chown www-data "$TOK/http.keytab" "$TOK/signing.key"
    chmod 0600 "$TOK/signing.key"
}

# tokens_start_service CA_DIR: the token service, with a server certificate from the stack's CA
# (ca.pem, ca.key in CA_DIR), requiring client certificates from that CA.
tokens_start_service() {
    TOKEN_PORT=$(free_port)
    mkdir -p "$TOK/apache/run" "$TOK/apache/cgi"
    cp "$TOKENS_HERE/token.cgi" "$TOK/apache/cgi/token"
    printf '1800\n' >"$TOK/ttl"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TOK/apache/server.key" 2>/dev/null
    openssl req -new -key "$TOK/apache/server.key" -subj "/O=hublink test/CN=localhost" -out "$TOK/apache/server.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >"$TOK/apache/server.ext"
    openssl x509 -req -in "$TOK/apache/server.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$TOK/apache/server.ext" -out "$TOK/apache/server.pem" 2>/dev/null
    M=/usr/lib/apache2/modules
    cat >"$TOK/apache/httpd.conf" <<EOF
ServerRoot $TOK/apache
DefaultRuntimeDir $TOK/apache/run
PidFile $APACHE_PID_FILE
ErrorLog $TOK/apache/error.log
LogLevel warn auth_gssapi:info
LoadModule mpm_prefork_module $M/mod_mpm_prefork.so
LoadModule authn_core_module $M/mod_authn_core.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule authz_user_module $M/mod_authz_user.so
LoadModule auth_gssapi_module $M/mod_auth_gssapi.so
LoadModule ssl_module $M/mod_ssl.so
LoadModule socache_shmcb_module $M/mod_socache_shmcb.so
LoadModule cgid_module $M/mod_cgid.so
LoadModule alias_module $M/mod_alias.so
LoadModule env_module $M/mod_env.so
User www-data
Group www-data
ServerName localhost
Listen 127.0.0.1:$TOKEN_PORT
ScriptSock $TOK/apache/run/cgisock
SSLSessionCache shmcb:$TOK/apache/run/ssl_scache(512000)
<VirtualHost 127.0.0.1:$TOKEN_PORT>
    SSLEngine on
    SSLCertificateFile $TOK/apache/server.pem
    SSLCertificateKeyFile $TOK/apache/server.key
    SSLCACertificateFile $1/ca.pem
    SSLVerifyClient require
    ScriptAlias /token $TOK/apache/cgi/token
    SetEnv TOKEN_DIR $TOK
    <Location "/token">
        AuthType GSSAPI
        AuthName "hublink token service"
        GssapiCredStore keytab:$TOK/http.keytab
        GssapiAllowedMech krb5
        GssapiBasicAuth Off
        Require valid-user
    </Location>
</VirtualHost>
EOF
    KRB5RCACHETYPE=none apache2 -f "$TOK/apache/httpd.conf" -k start 2>"$TOK/apache/start.err" ||
        { cat "$TOK/apache/start.err"; echo "Bail out! apache did not start"; exit 1; }
    for _ in $(seq 50); do [[ -s $APACHE_PID_FILE ]] && break; sleep 0.1; done
    URL=https://localhost:$TOKEN_PORT/token
}

# tokens_write_scopes: each party's scopes for the token service, read with "${SQL_AT[@]}" SQL
# (a psql at any party: the queue table is the same everywhere).
tokens_write_scopes() {
    # Per-party scopes from the queue table (the same source the worker uses, hublink.broker_route):
    # read what it receives and the error queues of what it sends, write only its own exchange
    # (bound to the queues it may write; hublink publishes through it), configure nothing
    # (docs/worker.md "Who may do what on the broker").
    scopes_of() {
        "${SQL_AT[@]}" "SELECT string_agg(s, ' ' ORDER BY s) FROM (
               SELECT DISTINCT 'hublink.read:*/' || r.queue AS s FROM hublink.broker_route r
                WHERE r.party = '$1' AND r.exchange IS NULL
               UNION
               SELECT 'hublink.write:*/' || p.exchange FROM hublink.party p WHERE p.party = '$1') x"
    }
    for p in hub tsp esp; do printf '%s@%s\t%s\t%s\n' "$p" "$REALM" "$p" "$(scopes_of "$p")"; done >"$TOK/parties.tsv"
    chmod 0644 "$TOK/parties.tsv" "$TOK/ttl"
}
