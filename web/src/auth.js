// Sign-on (docs/web.md "Signing in"): OpenID Connect authorization code flow with PKCE (S256),
// state and nonce, through openid-client. The provider proves who the person is; the Hub's
// own rows (hublink.security_web_identity) say which database role they act as, and
// hublink.web_sign_in records every sign-in and failure like a database logon, under the same
// lock-out (NFR 0020). prompt=login: the provider asks for the password at every sign-in, so a
// shared terminal never signs the next person in silently.
import * as oidc from 'openid-client';
import { asGateway } from './db.js';
import { clearSessionCookie, setSessionCookie } from './session.js';

export async function discover(config) {
  const options = config.allowHttpIssuer ? { execute: [oidc.allowInsecureRequests] } : undefined;
  return oidc.discovery(new URL(config.issuer), config.clientId, config.clientSecret, undefined, options);
}

function clientAddr(req) {
  return req.socket.remoteAddress || '';
}

export function authRoutes(app, { config, pool, store, getOidc }) {
  const redirectUri = new URL('/auth/callback', config.baseUrl).href;

  // Records a failed sign-in; if even that fails, the server log says so and the person is
  // still told the sign-in failed.
  async function recordFailure(req, subject, reason) {
    try {
      await asGateway(pool, (c) =>
        c.query('SELECT hublink.web_sign_in_failed($1, $2, $3, $4)', [config.issuer, subject, reason, clientAddr(req)]));
    } catch (err) {
      console.error(`hublink-web: could not record a failed sign-in (${reason}): ${err.message}`);
    }
  }

  app.get('/sign-in', async (req, res, next) => {
    try {
      const oidcConfig = await getOidc();
      const verifier = oidc.randomPKCECodeVerifier();
      const pending = {
        verifier,
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        returnTo: typeof req.query.returnTo === 'string' && /^\/[a-z]/.test(req.query.returnTo) ? req.query.returnTo : '/cases',
      };
      if (req.session) await store.end(req.session, 'replaced');
      const s = await store.create({ pending });
      setSessionCookie(res, s.id);
      const url = oidc.buildAuthorizationUrl(oidcConfig, {
        redirect_uri: redirectUri,
        scope: 'openid profile',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
        prompt: 'login',
      });
      res.redirect(303, url.href);
    } catch (err) {
      next(err);
    }
  });

  app.get('/auth/callback', async (req, res, next) => {
    const pending = req.session && req.session.pending;
    if (!pending) {
      // No sign-in under way in this browser: a forged or replayed callback.
      await recordFailure(req, null, 'callback without a sign-in under way');
      return res.status(400).render('sign-in-failed.njk', { reason: 'The sign-in was not started here, or it took too long. Start again.' });
    }
    await store.end(req.session, 'sign-in');
    req.session = null;
    clearSessionCookie(res);
    let claims;
    try {
      const oidcConfig = await getOidc();
      const current = new URL(req.originalUrl, config.baseUrl);
      const tokens = await oidc.authorizationCodeGrant(oidcConfig, current, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      await recordFailure(req, null, `provider or token check failed: ${err.code || err.error || err.message}`);
      return res.status(400).render('sign-in-failed.njk', { reason: 'The sign-in could not be completed. Start again.' });
    }
    try {
      const { rows } = await asGateway(pool, (c) =>
        c.query('SELECT * FROM hublink.web_sign_in($1, $2, $3)', [claims.iss, claims.sub, clientAddr(req)]));
      const r = rows[0];
      if (r.outcome !== 'succeeded') {
        const reason = r.outcome === 'refused_locked'
          ? 'This account is locked after too many failed sign-ins. Ask an administrator to unlock it.'
          : 'Your account is not set up to use this service. Ask an administrator to give you access.';
        return res.status(403).render('sign-in-failed.njk', { reason });
      }
      // A new session id at sign-in: an id planted before cannot ride into the signed-in session.
      const s = await store.create({
        user: { role: r.role_name, name: r.display_name, groups: r.groups, clearance: r.clearance, subject: claims.sub },
      }, { role: r.role_name, clientAddr: clientAddr(req) });
      setSessionCookie(res, s.id);
      res.redirect(303, pending.returnTo);
    } catch (err) {
      next(err);
    }
  });

  app.post('/sign-out', async (req, res, next) => {
    try {
      if (req.session) await store.end(req.session, 'signed out');
    } catch (err) {
      return next(err);
    }
    req.session = null;
    clearSessionCookie(res);
    res.redirect(303, '/signed-out');
  });

  app.get('/signed-out', (req, res) => res.render('signed-out.njk'));
}
