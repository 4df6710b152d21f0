// The blank new removal form, rendered once per person and set of options (docs/web.md
// "Figures"): GOV.UK Frontend's Nunjucks macros cost about 23 ms of CPU for that page, on Node's
// one thread, at every view. The markup holds no case data: the person's own name and menu, the
// risk flags and the sensitivity levels they may choose (read from the Hub at every view and
// part of the key, so a change shows at once). The session's CSRF token and the response's CSP
// nonce are put in at every view.
const CSRF = 'hublink-cached-csrf-token';
const NONCE = 'hublink-cached-csp-nonce';
const MAX = 500;

export class PageCache {
  constructor() {
    this.pages = new Map();
  }

  // Sends the page of this key, rendering it first if it is not kept yet.
  send(req, res, key, view, locals) {
    const done = (html) => res.send(html.replaceAll(CSRF, res.locals.csrfToken).replaceAll(NONCE, res.locals.cspNonce));
    const kept = this.pages.get(key);
    if (kept) return done(kept);
    req.app.render(view, { ...res.locals, ...locals, csrfToken: CSRF, cspNonce: NONCE }, (err, html) => {
      if (err) return req.next(err);
      if (this.pages.size >= MAX) this.pages.delete(this.pages.keys().next().value);
      this.pages.set(key, html);
      done(html);
    });
  }
}
