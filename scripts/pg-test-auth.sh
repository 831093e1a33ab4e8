#!/usr/bin/env bash
# Make the local PostgreSQL check passwords and speak TLS, for the tests that need real authentication.
# Idempotent; run as root on the database host (CI does, via `make pg-test-setup`). It:
# - starts the cluster if it is down,
# - adds `host all pwuser 127.0.0.1/32 scram-sha-256` as the first pg_hba.conf line (everyone else keeps trust),
# - makes a self-signed certificate for localhost / 127.0.0.1 in $TLS_DIR and turns ssl on,
# - creates the role pwuser with password $PWUSER_PASSWORD,
# - makes a client CA and a certificate for role certuser, which logs in with `cert` auth only.
set -euo pipefail
TLS_DIR=${TLS_DIR:-/etc/postgresql-test-tls}
PWUSER_PASSWORD=${PWUSER_PASSWORD:-pwuser-secret-9}
cluster=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$cluster/main
psql_admin() { psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

first_lines=("host all pwuser 127.0.0.1/32 scram-sha-256" "hostssl all certuser 127.0.0.1/32 cert")
if [ "$(head -n 2 "$conf/pg_hba.conf")" != "$(printf '%s\n' "${first_lines[@]}" | head -c -1)" ]; then
    { printf '%s\n' "${first_lines[@]}"; grep -vxF -e "${first_lines[0]}" -e "${first_lines[1]}" "$conf/pg_hba.conf"; } \
        > "$conf/pg_hba.conf.new"
    chown --reference="$conf/pg_hba.conf" "$conf/pg_hba.conf.new"
    chmod --reference="$conf/pg_hba.conf" "$conf/pg_hba.conf.new"
    mv "$conf/pg_hba.conf.new" "$conf/pg_hba.conf"
fi

if [ ! -s "$TLS_DIR/server.key" ]; then
    mkdir -p "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.crt" 2>/dev/null
fi
if [ ! -s "$TLS_DIR/client.key" ]; then  # a CA for client certificates, and one for role certuser
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=test-client-ca \
        -keyout "$TLS_DIR/client-ca.key" -out "$TLS_DIR/client-ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=certuser \
        -keyout "$TLS_DIR/client.key" -out "$TLS_DIR/client.csr" 2>/dev/null
    openssl x509 -req -in "$TLS_DIR/client.csr" -CA "$TLS_DIR/client-ca.crt" -CAkey "$TLS_DIR/client-ca.key" \
        -CAcreateserial -days 3650 -out "$TLS_DIR/client.crt" 2>/dev/null
fi
chown -R postgres: "$TLS_DIR"
chmod 0755 "$TLS_DIR"; chmod 0600 "$TLS_DIR/server.key" "$TLS_DIR/client-ca.key"
chmod 0644 "$TLS_DIR/server.crt" "$TLS_DIR/client-ca.crt" "$TLS_DIR/client.crt" "$TLS_DIR/client.key"  # test-only key

psql_admin -c "ALTER SYSTEM SET ssl = on"
psql_admin -c "ALTER SYSTEM SET ssl_cert_file = '$TLS_DIR/server.crt'"
psql_admin -c "ALTER SYSTEM SET ssl_key_file = '$TLS_DIR/server.key'"
psql_admin -c "ALTER SYSTEM SET ssl_ca_file = '$TLS_DIR/client-ca.crt'"
psql_admin -c "ALTER SYSTEM SET password_encryption = 'scram-sha-256'"
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'pwuser'")" != "1" ]; then
    psql_admin -c "CREATE ROLE pwuser LOGIN"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'certuser'")" != "1" ]; then
    psql_admin -c "CREATE ROLE certuser LOGIN"
fi
psql_admin -c "SELECT pg_reload_conf()" >/dev/null
sleep 1  # password_encryption must be in force before the password is hashed
psql_admin -c "ALTER ROLE pwuser PASSWORD '$PWUSER_PASSWORD'"
psql_admin -d test -c "GRANT CONNECT ON DATABASE test TO pwuser, certuser"
echo "PostgreSQL $cluster: ssl=$(psql_admin -c 'SHOW ssl'), scram role pwuser, cert role certuser, in $TLS_DIR"
