// Alerts (acknowledge), management information (the existing exports and report) and the
// administrator's pages (identities, clearances, reference lists): docs/web.md "Pages". As
// everywhere, the database decides: an admin's role holds the grants, and a caseworker who
// types these addresses gets the database's refusal, shown as "you cannot use this page".
import { asPerson } from './db.js';
import { isShown, message } from './errors.js';

const MI_FORMATS = { csv: 'text/csv', xml: 'application/xml', html: 'text/html' };

function requireGroup(...groups) {
  return (req, res, next) => {
    if (groups.some((g) => res.locals.user.groups.includes(g))) return next();
    res.status(403).render('error.njk', { title: 'You cannot use this page', text: 'Your role does not use this page.' });
  };
}

export function adminRoutes(app, { pool, config }) {
  const admin = requireGroup('hublink_admin');
  const reporting = requireGroup('hublink_admin', 'hublink_reporting');

  // Alerts are removal data: a caseworker reads those of the removals it may see (row-level
  // security on hublink.alert) and acknowledges them (acknowledge_alert checks the clearance).
  // Alerts of no removal (protective monitoring) are an admin's: hublink.monitoring_alerts.
  const alertReaders = requireGroup('hublink_caseworker', 'hublink_admin');
  app.get('/alerts', alertReaders, async (req, res, next) => {
    const open = req.query.all !== '1';
    const groups = res.locals.user.groups;
    try {
      const data = await asPerson(pool, res.locals.user, async (c) => ({
        alerts: groups.includes('hublink_caseworker') ? (await c.query(
          `SELECT a.alert_id, a.kind, a.severity, a.subject, a.raised_at, a.acknowledged_at, a.acknowledged_by, r.removal_reference
             FROM hublink.alert a LEFT JOIN hublink.removal r USING (removal_id)
            WHERE a.removal_id IS NOT NULL AND (NOT $1 OR acknowledged_at IS NULL) ORDER BY a.raised_at DESC LIMIT 200`, [open])).rows : null,
        monitoring: groups.includes('hublink_admin') ? (await c.query(
          'SELECT * FROM hublink.monitoring_alerts(open_only => $1, max_rows => 200)', [open])).rows : null,
      }));
      const flash = req.session.flash;
      delete req.session.flash;
      res.render('alerts.njk', { ...data, open, flash });
    } catch (err) {
      next(err);
    }
  });

  app.post('/alerts/:id/acknowledge', alertReaders, async (req, res, next) => {
    const id = Number(req.params.id);
    if (!Number.isSafeInteger(id)) return res.redirect(303, '/alerts');
    try {
      await asPerson(pool, res.locals.user, (c) => c.query('SELECT hublink.acknowledge_alert($1)', [id]));
    } catch (err) {
      if (!isShown(err)) return next(err);
      req.session.flash = { error: message(err) };
    }
    res.redirect(303, '/alerts');
  });

  app.get('/mi', reporting, async (req, res, next) => {
    try {
      const { rows } = await asPerson(pool, res.locals.user, (c) => c.query(
        `SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS description
           FROM pg_class c WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'v'
            AND c.relname LIKE 'mi\\_%' AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1`));
      res.render('mi.njk', { views: rows });
    } catch (err) {
      next(err);
    }
  });

  app.get('/mi/:view.:format', reporting, async (req, res, next) => {
    const { view, format } = req.params;
    if (!/^mi_[a-z_]+$/.test(view) || !MI_FORMATS[format]) return res.status(404).render('error.njk', { title: 'Page not found', text: 'No such export.' });
    try {
      const { rows } = await asPerson(pool, res.locals.user, (c) => c.query('SELECT hublink.export_mi($1, $2) AS body', [view, format]));
      res.set('Content-Disposition', `attachment; filename="${view}.${format}"`);
      res.type(MI_FORMATS[format]).send(rows[0].body);
    } catch (err) {
      if (!isShown(err)) return next(err);
      res.status(400).render('error.njk', { title: 'The export could not be made', text: message(err) });
    }
  });

  app.get('/mi/report', reporting, async (req, res, next) => {
    try {
      const { rows } = await asPerson(pool, res.locals.user, (c) => c.query('SELECT hublink.mi_report_html() AS body'));
      res.set('Content-Disposition', 'attachment; filename="mi-report.html"');
      res.type('text/html').send(rows[0].body);
    } catch (err) {
      next(err);
    }
  });

  app.get('/admin', admin, async (req, res, next) => {
    try {
      const data = await asPerson(pool, res.locals.user, async (c) => ({
        identities: (await c.query(
          `SELECT w.issuer, w.subject, w.role_name, w.display_name, c.level AS clearance,
                  ARRAY(SELECT g FROM unnest(ARRAY['hublink_admin', 'hublink_caseworker', 'hublink_reporting']) g
                         WHERE pg_has_role(w.role_name, g, 'USAGE')) AS groups
             FROM hublink.security_web_identity w LEFT JOIN hublink.role_clearance c USING (role_name)
            ORDER BY w.display_name`)).rows,
        levels: (await c.query('SELECT level FROM hublink.sensitivity_level ORDER BY rank')).rows,
        codes: (await c.query('SELECT list, code, description, active FROM hublink.reason_code ORDER BY list, code')).rows,
        lists: (await c.query('SELECT list FROM hublink.reason_list ORDER BY list')).rows,
      }));
      const flash = req.session.flash;
      delete req.session.flash;
      res.render('admin.njk', { ...data, flash, issuer: config.issuer });
    } catch (err) {
      next(err);
    }
  });

  const adminAction = (fn) => async (req, res, next) => {
    try {
      await asPerson(pool, res.locals.user, (c) => fn(c, req.body));
      req.session.flash = { done: 'Saved.' };
    } catch (err) {
      if (!isShown(err)) return next(err);
      req.session.flash = { error: message(err) };
    }
    res.redirect(303, '/admin');
  };

  app.post('/admin/clearance', admin, adminAction((c, b) =>
    c.query('SELECT hublink.set_clearance($1, nullif($2, \'\'))', [String(b.role || ''), String(b.level || '')])));

  // Who may sign in: a row of hublink.security_web_identity (the role itself, its group and
  // the web login's grant are made in SQL: web/scripts/setup-db).
  app.post('/admin/identity', admin, adminAction((c, b) =>
    c.query('INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name) VALUES ($1, $2, $3, $4)',
      [config.issuer, String(b.subject || '').trim(), String(b.roleName || '').trim(), String(b.displayName || '').trim()])));

  app.post('/admin/identity/remove', admin, adminAction((c, b) =>
    c.query('DELETE FROM hublink.security_web_identity WHERE issuer = $1 AND subject = $2', [String(b.issuer || ''), String(b.subject || '')])));

  app.post('/admin/reason-code', admin, adminAction((c, b) =>
    c.query('INSERT INTO hublink.reason_code (list, code, description) VALUES ($1, $2, $3)',
      [String(b.list || ''), String(b.code || '').trim().toUpperCase(), String(b.description || '').trim()])));
}
