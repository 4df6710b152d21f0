// Four eyes on who may sign in (docs/web.md "Admin: confirming a sign-in"): a web identity
// mapping that an admin adds or moves works only once a second admin confirms it
// (hublink.confirm_web_identity; docs/security-access.md "Web identities: four eyes"). This page
// lists the mappings waiting for that confirmation and confirms one as the person; whether
// they may (not their own, not for their own or a privileged role) is the Hub's to say, and
// its refusal is shown in the page's error summary.
import { asPerson } from './db.js';
import { isShown, message } from './errors.js';

function requireAdmin(req, res, next) {
  if (res.locals.user.groups.includes('hublink_admin')) return next();
  res.status(403).render('error.njk', { title: 'You cannot use this page', text: 'Your role does not use this page.' });
}

// The mappings no second admin has confirmed yet, oldest first (read as the person: the
// table's grants decide what an admin sees).
async function pending(c) {
  const { rows } = await c.query(
    `SELECT w.issuer, w.subject, w.role_name, w.display_name, w.added_by, w.added_at
       FROM hublink.security_web_identity w WHERE w.confirmed_at IS NULL ORDER BY w.added_at, w.subject`);
  return rows.map((r, i) => ({ ...r, id: `confirm-${i + 1}` }));
}

export function identityRoutes(app, { pool }) {
  app.get('/admin/sign-ins', requireAdmin, async (req, res, next) => {
    try {
      const rows = await asPerson(pool, res.locals.user, pending);
      const flash = req.session.flash;
      delete req.session.flash;
      res.render('admin-sign-ins.njk', { rows, errors: [], flash });
    } catch (err) {
      next(err);
    }
  });

  app.post('/admin/sign-ins/confirm', requireAdmin, async (req, res, next) => {
    const issuer = String(req.body.issuer || '');
    const subject = String(req.body.subject || '');
    try {
      const result = await asPerson(pool, res.locals.user, async (c) => {
        await c.query('SAVEPOINT confirm');
        try {
          const { rows } = await c.query(
            `SELECT w.display_name FROM hublink.security_web_identity w WHERE w.issuer = $1 AND w.subject = $2`, [issuer, subject]);
          await c.query('SELECT hublink.confirm_web_identity($1, $2)', [issuer, subject]);
          return { done: rows[0] ? rows[0].display_name : subject };
        } catch (err) {
          if (!isShown(err)) throw err;
          await c.query('ROLLBACK TO SAVEPOINT confirm');
          const rows = await pending(c);
          const row = rows.find((r) => r.issuer === issuer && r.subject === subject);
          return { rows, errors: [{ field: row ? row.id : 'pending', text: message(err) }] };
        }
      });
      if (result.done) {
        req.session.flash = { done: `${result.done} may now sign in.` };
        return res.redirect(303, '/admin/sign-ins');
      }
      res.status(400).render('admin-sign-ins.njk', { rows: result.rows, errors: result.errors });
    } catch (err) {
      next(err);
    }
  });
}
