// A real OpenID provider for tests and the demo (docs/web.md "The test provider"): oidc-provider
// on this machine, with one client (the Hub web interface; authorization code + PKCE only) and
// test users whose passwords come from a file. It stands in for the Home Office's single
// sign-on; nothing here is used in production.
//
//   node test-idp/provider.js USERS.json
// Environment: HUBLINK_IDP_PORT, HUBLINK_IDP_ISSUER, HUBLINK_WEB_URL (for the redirect URI),
// HUBLINK_WEB_OIDC_CLIENT_ID, HUBLINK_WEB_OIDC_CLIENT_SECRET.
// USERS.json: [{"username": "...", "password": "...", "name": "..."}].
import fs from 'node:fs';
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const users = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const port = Number(process.env.HUBLINK_IDP_PORT || 8081);
const issuer = process.env.HUBLINK_IDP_ISSUER || `http://localhost:${port}`;
// HUBLINK_WEB_URL: the web interface's address, or several, comma-separated.
const webUrl = process.env.HUBLINK_WEB_URL || 'http://localhost:8080';

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.HUBLINK_WEB_OIDC_CLIENT_ID,
    client_secret: process.env.HUBLINK_WEB_OIDC_CLIENT_SECRET,
    redirect_uris: webUrl.split(',').map((u) => `${u}/auth/callback`),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  findAccount: async (ctx, id) => {
    const u = users.find((x) => x.username === id);
    return u && { accountId: id, claims: async () => ({ sub: id, name: u.name }) };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // The Hub is the organisation's own client: no consent screen.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    await grant.save();
    return grant;
  },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 300, IdToken: 300, AuthorizationCode: 60 },
});
provider.proxy = false;

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function readBody(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; if (data.length > 10000) req.destroy(); });
    req.on('end', () => resolve(new URLSearchParams(data)));
  });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(req.url);
  if (!m) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'POST' && m[2]) {
      const form = await readBody(req);
      const u = users.find((x) => x.username === form.get('username'));
      const ok = u && crypto.timingSafeEqual(crypto.createHash('sha256').update(u.password).digest(),
        crypto.createHash('sha256').update(form.get('password') || '').digest());
      if (!ok) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        return res.end(page('Sign in to the test provider', `<p role="alert">Wrong username or password.</p>${loginForm(details.uid)}`));
      }
      return provider.interactionFinished(req, res, { login: { accountId: u.username } }, { mergeWithLastSubmission: false });
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page('Sign in to the test provider', loginForm(details.uid)));
  } catch (err) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  }
});

function loginForm(uid) {
  return `<form method="post" action="/interaction/${escape(uid)}/login">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p></form>`;
}

server.listen(port, '127.0.0.1', () => console.log(`test OpenID provider: ${issuer} (${users.length} users)`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
