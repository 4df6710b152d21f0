// The GET of a case's form page (sensitivity, travel amendment): the case read as the person,
// the page's own data, a blank form; 404 for a malformed reference or a case the person may not
// see, the same answer as for one that does not exist (test/sql/92_no_existence_leak.sql).
import { asPerson } from './db.js';
import { isNotAccessible } from './errors.js';
import { REF, requireCaseworker, notFound, loadCase } from './cases.js';

export function caseFormPage(app, pool, path, view, data, blank) {
  app.get(path, requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    try {
      const d = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        return removal ? data(c, removal) : null;
      });
      if (!d) return notFound(res);
      res.render(view, { ...d, errors: [], err: {}, f: blank() });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });
}
