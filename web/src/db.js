// Every read and write runs in a transaction as the signed-in person's own role: the pooled
// connection is the web login, which holds nothing and may only SET ROLE to the roles it was
// granted (docs/web.md "The database as the person"). SET LOCAL ends with the transaction, so a
// connection goes back to the pool with no role left on it.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { measure, note } from './timing.js';

// numeric and date stay strings: money is shown as the database wrote it, dates are not moved
// through the server's time zone.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => v);
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

export function createPool(config) {
  return new pg.Pool({ max: config.poolSize, application_name: 'hublink-web', idleTimeoutMillis: 0 });
}

// Opens the pool's connections at start: a new connection costs a backend start, the logon
// hook and TLS, and the first requests after a start (or a quiet night) would wait for it
// (test/bench/web: up to a second at the 95th percentile under load). Kept open
// (idleTimeoutMillis 0); a connection that fails later is replaced by the pool.
export async function warmPool(pool, n) {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  for (const c of clients) c.release();
}

async function inTransaction(pool, role, fn) {
  const client = await measure('pool', () => pool.connect());
  const t0 = performance.now();
  try {
    // One round trip for both (a simple-protocol query of two statements).
    await client.query(`BEGIN; SET LOCAL ROLE ${client.escapeIdentifier(role)}`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
    note('db', performance.now() - t0);
  }
}

// As the person signed in (req.session.user.role).
export function asPerson(pool, user, fn) {
  if (!user || !user.role) throw new Error('no signed-in person');
  return inTransaction(pool, user.role, fn);
}

// As hublink_web: only the sign-in, sign-out and login-warning functions (79_web_identity.sql).
export function asGateway(pool, fn) {
  return inTransaction(pool, 'hublink_web', fn);
}
