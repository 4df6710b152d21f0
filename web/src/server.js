// The caseworkers' Hub web interface (issue 16; docs/web.md): a thin, stateless face on the
// Hub's SQL API. Every page reads and writes through the Hub's functions and views, in a
// transaction as the signed-in person's own role (db.js); the web tier holds no business rule.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import nunjucks from 'nunjucks';
import { loadConfig } from './config.js';
import { createPool, warmPool, asGateway } from './db.js';
import { SessionStore, COOKIE, readCookie, csrfMatches } from './session.js';
import { securityHeaders } from './security.js';
import { timingMiddleware, note, serverTiming } from './timing.js';
import { performance } from 'node:perf_hooks';
import { authRoutes, discover } from './auth.js';
import { LiveCases } from './live.js';
import { caseRoutes, renderTimeline } from './cases.js';
import { adminRoutes } from './admin.js';
import { actionRoutes } from './actions.js';
import { identityRoutes } from './identities.js';
import { sensitivityRoutes } from './sensitivity.js';
import { travelAmendRoutes } from './travel-amend.js';
import { returneeRoutes } from './returnees.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');

export async function start(config = loadConfig()) {
  const pool = createPool(config);
  await warmPool(pool, config.poolSize);
  const store = new SessionStore({ pool, idleSeconds: config.idleSeconds, maxSeconds: config.maxSeconds });
  let oidcConfig = null;
  const getOidc = async () => (oidcConfig ||= await discover(config));

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const env = nunjucks.configure([path.join(root, 'views'), path.join(root, 'node_modules/govuk-frontend/dist')], {
    autoescape: true,
    express: app,
    noCache: false,
  });
  env.addFilter('datetime', (v) => (v ? new Date(v).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : ''));
  env.addFilter('money', (v, cur) => (v === null || v === undefined ? '' : `${cur || ''} ${v}`.trim()));
  env.addFilter('words', (v) => (v ? String(v).replace(/_/g, ' ') : ''));

  app.use(securityHeaders(config));
  app.use('/assets', express.static(path.join(root, 'node_modules/govuk-frontend/dist/govuk/assets'), { immutable: true, maxAge: '1d' }));
  app.use('/assets', express.static(path.join(root, 'public'), { maxAge: '1h' }));
  app.get('/assets/govuk-frontend.min.css', (req, res) => res.sendFile(path.join(root, 'node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css')));
  app.get('/assets/govuk-frontend.min.js', (req, res) => res.sendFile(path.join(root, 'node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js')));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));

  // The session, if any; a cookie whose session has ended marks a time-out for the start page.
  // The session is in PostgreSQL (session.js): what a handler changes in it (a message for the
  // next page) is written before the response goes, so the next request sees it.
  app.use(timingMiddleware);
  app.use(async (req, res, next) => {
    try {
      const { session, ended } = await store.get(readCookie(req, COOKIE));
      req.session = session;
      req.sessionEnded = ended;
    } catch (err) {
      return next(err);
    }
    res.locals.user = req.session && req.session.user;
    res.locals.csrfToken = req.session ? req.session.csrf : '';
    res.locals.currentPath = req.path;
    for (const method of ['redirect', 'render']) {
      const send = res[method].bind(res);
      res[method] = (...args) => {
        // A message that could not be kept is lost; the page is still sent.
        store.save(req.session).catch((err) => console.error(`hublink-web: could not save the session: ${err.message}`))
          .then(() => {
            if (method === 'redirect' || !config.serverTiming) return send(...args);
            // Rendered to a string first, so that its time is in the header.
            const t0 = performance.now();
            req.app.render(args[0], { ...res.locals, ...(args[1] || {}) }, (err, html) => {
              if (err) return next(err);
              note('render', performance.now() - t0);
              res.set('Server-Timing', serverTiming());
              res.send(html);
            });
          });
      };
    }
    if (config.serverTiming) {
      const redirect = res.redirect;
      res.redirect = (...args) => {
        res.set('Server-Timing', serverTiming());
        redirect(...args);
      };
    }
    next();
  });

  // CSRF (docs/web.md): every POST carries the session's token in a hidden field, and comes
  // from this origin when the browser says where it comes from.
  app.use((req, res, next) => {
    if (req.method !== 'POST') return next();
    const origin = req.headers.origin;
    const fromHere = !origin || origin === new URL(config.baseUrl).origin;
    if (!fromHere || !csrfMatches(req.session, req.body && req.body._csrf)) {
      return res.status(403).render('error.njk', {
        title: 'This form could not be accepted',
        text: 'The form had expired or did not come from this service. Go back, reload the page and try again.',
      });
    }
    next();
  });

  app.get('/', async (req, res, next) => {
    if (res.locals.user) return res.redirect(303, '/cases');
    try {
      const { rows } = await asGateway(pool, (c) => c.query('SELECT hublink.web_login_warning() AS text'));
      res.render('start.njk', {
        warning: rows[0].text,
        timedOut: req.sessionEnded || req.query.timeout === '1',
        returnTo: typeof req.query.returnTo === 'string' ? req.query.returnTo : '',
      });
    } catch (err) {
      next(err);
    }
  });

  authRoutes(app, { config, pool, store, getOidc });

  // Everything below needs a signed-in person; a timed-out one goes back to sign in.
  app.use((req, res, next) => {
    if (res.locals.user) return next();
    if (req.headers.accept === 'text/event-stream') return res.status(401).end();
    const returnTo = req.method === 'GET' ? `&returnTo=${encodeURIComponent(req.originalUrl)}` : '';
    res.redirect(303, `/?timeout=${req.sessionEnded ? 1 : 0}${returnTo}`);
  });

  const live = new LiveCases((user, reference) => renderTimeline(env, pool, user, reference));
  await live.start();
  caseRoutes(app, { config, pool, live, store });
  actionRoutes(app, { pool });
  adminRoutes(app, { pool, config });
  identityRoutes(app, { pool });
  sensitivityRoutes(app, { pool });
  travelAmendRoutes(app, { pool });
  returneeRoutes(app, { pool });

  app.use((req, res) => res.status(404).render('error.njk', { title: 'Page not found', text: 'There is no page here, or you may not see it.' }));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    console.error(`hublink-web: ${req.method} ${req.path}: ${err.stack || err.message}`);
    res.status(500).render('error.njk', { title: 'Sorry, there is a problem with the service', text: 'Try again later.' });
  });

  const server = await new Promise((resolve) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
  });
  console.log(`hublink-web: listening on ${config.baseUrl} (bound to ${config.host}:${config.port})`);
  const stop = async () => {
    store.stop();
    await live.stop();
    server.close();
    await pool.end();
  };
  return { app, server, stop, store };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start().then(({ stop }) => {
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop().then(() => process.exit(0)));
  }).catch((err) => {
    console.error(`hublink-web: ${err.message}`);
    process.exit(1);
  });
}
