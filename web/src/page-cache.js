// The blank new removal form, rendered once per set of options (docs/web.md "Figures"): GOV.UK
// Frontend's Nunjucks macros cost about 23 ms of CPU for that page, on Node's one thread, at
// every view. The markup holds no case data: the menu of the person's groups, their clearance,
// the risk flags and the sensitivity levels they may choose (read from the Hub at every view and
// part of the key, so a change shows at once). The person's own name, the session's CSRF token
// and the response's CSP nonce are put in at every view, so people with the same groups and
// clearance share one rendering (one render per person made each one's first view slow, and
// held up every other request on the thread, at the start of a working day).
const CSRF = 'hublink-cached-csrf-token';
const NONCE = 'hublink-cached-csp-nonce';
const NAME = 'hublink-cached-person-name';
const MAX = 500;

export class PageCache {
  constructor() {
    this.pages = new Map();
  }

  // Sends the page of this key, rendering it first if it is not kept yet.
  send(req, res, key, view, locals) {
    const name = escapeHtml(res.locals.user.name);
    const done = (html) => res.send(html.replaceAll(CSRF, res.locals.csrfToken).replaceAll(NONCE, res.locals.cspNonce)
      .replaceAll(NAME, () => name));
    const kept = this.pages.get(key);
    if (kept) return done(kept);
    const user = { ...res.locals.user, name: NAME };
    req.app.render(view, { ...res.locals, ...locals, user, csrfToken: CSRF, cspNonce: NONCE }, (err, html) => {
      if (err) return req.next(err);
      if (this.pages.size >= MAX) this.pages.delete(this.pages.keys().next().value);
      this.pages.set(key, html);
      done(html);
    });
  }
}

// As Nunjucks' autoescape would have written it.
function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"'\\]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '\\': '&#92;' })[c]);
}
