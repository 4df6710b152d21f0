#!/bin/bash
# A token service for the tests (test/e2e/tokens/run), standing in for the Home Office's
# authentication service (Schedule R Appendix D): Apache with mod_auth_gssapi has checked the
# client's SPNEGO (Kerberos) authentication and sets REMOTE_USER to its principal; this CGI
# issues a JWT signed with RS256 for that principal only, whatever the request asks, with the
# scopes its party has in $TOKEN_DIR/parties.tsv (principal, party, scopes), valid
# $TOKEN_DIR/ttl seconds (RabbitMQ's auth_oauth2: aud holds the resource server id "hublink",
# the user is client_id). Answers {"access_token", "token_type", "expires_in", "principal"}.
set -euo pipefail
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
deny() { printf 'Status: %s\r\nContent-Type: application/json\r\n\r\n{"error": "%s"}\n' "$1" "$2"; exit 0; }
[[ ${REQUEST_METHOD:-} == POST ]] || deny "405 Method Not Allowed" "POST only"
principal=${REMOTE_USER:-}
[[ -n $principal ]] || deny "401 Unauthorized" "no authenticated principal"
line=$(awk -F '\t' -v p="$principal" '$1 == p { print; exit }' "$TOKEN_DIR/parties.tsv")
[[ -n $line ]] || deny "403 Forbidden" "principal has no party"
party=$(cut -f2 <<<"$line")
scopes=$(cut -f3 <<<"$line")
ttl=$(cat "$TOKEN_DIR/ttl" 2>/dev/null || echo 300)
now=$(date +%s)
scope_json=$(printf '%s\n' $scopes | jq -R . | jq -sc .)
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"hublink-test"}' | b64url)
payload=$(jq -nc --arg sub "$party" --arg p "$principal" --argjson scope "$scope_json" \
    --argjson iat "$now" --argjson exp "$((now + ttl))" \
    '{iss: "hublink-test-token-service", sub: $sub, client_id: $sub, kerberos_principal: $p,
      aud: ["hublink"], scope: $scope, iat: $iat, exp: $exp}' | b64url)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$TOKEN_DIR/signing.key" | b64url)
printf 'Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n'
jq -nc --arg t "$header.$payload.$sig" --argjson ttl "$ttl" --arg p "$principal" \
    '{access_token: $t, token_type: "Bearer", expires_in: $ttl, principal: $p}'
