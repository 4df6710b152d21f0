// Settings of the web interface, from the environment (docs/web.md "Settings"). The database
// connection uses libpq's variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD), as the
// web login: a member of hublink_web that holds nothing itself.
const env = process.env;

function seconds(name, fallback) {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number of seconds, not "${v}"`);
  return n;
}

function required(name) {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set (docs/web.md "Settings")`);
  return v;
}

export function loadConfig() {
  const port = Number(env.HUBLINK_WEB_PORT || 8080);
  const baseUrl = env.HUBLINK_WEB_URL || `http://localhost:${port}`;
  return {
    host: env.HUBLINK_WEB_HOST || '127.0.0.1',
    port,
    baseUrl,
    issuer: required('HUBLINK_WEB_OIDC_ISSUER'),
    clientId: required('HUBLINK_WEB_OIDC_CLIENT_ID'),
    clientSecret: required('HUBLINK_WEB_OIDC_CLIENT_SECRET'),
    // Plain http to the provider only when said so (a provider on this machine, in tests).
    allowHttpIssuer: env.HUBLINK_WEB_OIDC_ALLOW_HTTP === '1',
    idleSeconds: seconds('HUBLINK_WEB_IDLE_SECONDS', 15 * 60),
    maxSeconds: seconds('HUBLINK_WEB_MAX_SECONDS', 8 * 3600),
    poolSize: Number(env.HUBLINK_WEB_POOL || 10),
    serverTiming: env.HUBLINK_WEB_SERVER_TIMING === '1',
  };
}
