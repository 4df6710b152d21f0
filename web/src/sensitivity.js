// Changing a case's sensitivity (docs/web.md "Changing a case's sensitivity"; NFR 0015, Appendix
// B 4.19). The levels offered, which of them the person may choose and which would hide the case
// from them come from hublink.sensitivity_choices; the change is hublink.change_sensitivity,
// called as the person with their reason and, when they ticked it, their confirmation that
// the case may disappear from their view. The rules (a caseworker never above its clearance,
// never on a case it cannot see; the change kept and alerted) are the Hub's.
import { asPerson } from './db.js';
import { isNotAccessible, isShown, message } from './errors.js';
import { REF, requireCaseworker, notFound, loadCase } from './cases.js';

async function data(c, removal) {
  const choices = await c.query('SELECT * FROM hublink.sensitivity_choices($1)', [removal.removal_reference]);
  const changes = await c.query(
    `SELECT s.from_level, s.to_level, s.reason, s.changed_by, s.changed_at
       FROM hublink.sensitivity_change s JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 ORDER BY s.changed_at DESC, s.sensitivity_change_id DESC`, [removal.removal_reference]);
  return { removal, choices: choices.rows, changes: changes.rows };
}

export function sensitivityRoutes(app, { pool }) {
  app.get('/cases/:ref/sensitivity', requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    try {
      const d = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        return removal ? data(c, removal) : null;
      });
      if (!d) return notFound(res);
      res.render('case-sensitivity.njk', { ...d, errors: [], err: {}, f: { level: '', reason: '', hide: false } });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });

  app.post('/cases/:ref/sensitivity', requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    const f = { level: String(req.body.level || ''), reason: String(req.body.reason || '').trim(), hide: req.body.hide === 'yes' };
    const errors = [];
    if (!f.level) errors.push({ field: 'level', text: 'Select the new sensitivity' });
    if (!f.reason) errors.push({ field: 'reason', text: 'Enter why the sensitivity changes' });
    try {
      const result = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        if (!removal) return null;
        if (!errors.length) {
          await c.query('SAVEPOINT sensitivity');
          try {
            await c.query('SELECT hublink.change_sensitivity($1, $2, $3, $4)', [removal.removal_reference, f.level, f.reason, f.hide]);
            const still = await c.query('SELECT FROM hublink.removal WHERE removal_reference = $1', [removal.removal_reference]);
            return { done: true, visible: still.rowCount > 0 };
          } catch (err) {
            if (!isShown(err) || isNotAccessible(err)) throw err;
            await c.query('ROLLBACK TO SAVEPOINT sensitivity');
            // The confirmation the Hub asks for is the checkbox; anything else is about the level.
            errors.push({ field: err.code === '55000' ? 'hide' : 'level', text: message(err) });
          }
        }
        return data(c, removal);
      });
      if (!result) return notFound(res);
      if (result.done) {
        return res.redirect(303, result.visible ? `/cases/${req.params.ref}` : '/cases');
      }
      res.status(400).render('case-sensitivity.njk', { ...result, errors, err: Object.fromEntries(errors.map((e) => [e.field, e.text])), f });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });
}
