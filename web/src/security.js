// Security headers on every response (docs/web.md "Security headers"): a strict Content
// Security Policy with a nonce for the one inline script GOV.UK's template needs, no framing,
// no referrer, no caching of pages (they show personal data), no sniffing.
import crypto from 'node:crypto';

export function securityHeaders(config) {
  const issuerOrigin = new URL(config.issuer).origin;
  return (req, res, next) => {
    const nonce = crypto.randomBytes(16).toString('base64');
    res.locals.cspNonce = nonce;
    res.set({
      'Content-Security-Policy': [
        "default-src 'none'",
        `script-src 'self' 'nonce-${nonce}'`,
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        `form-action 'self' ${issuerOrigin}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      // same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts,
      // and the CSRF check needs the origin.
      'Referrer-Policy': 'same-origin',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    });
    if (!req.path.startsWith('/assets/')) res.set('Cache-Control', 'no-store');
    next();
  };
}
