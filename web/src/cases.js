// Case pages (docs/web.md "Pages"): search (4.19), a case with its live timeline (4.21), new
// removal with the duplicate refusal (4.22), quotes and booking (4.5-4.7), amend and cancel
// (4.20). Each handler calls the Hub's SQL functions and views as the person (asPerson).
import { asPerson } from './db.js';
import { isNotAccessible, isShown, message } from './errors.js';
import { PageCache } from './page-cache.js';

export const REF = /^RMV-[0-9]{4}-[0-9]{6}$/;
const PAGE_SIZE = 25; // the cases list: only the rows of one page are decrypted

function isCaseworker(user) {
  return user.groups.includes('hublink_caseworker');
}

export function requireCaseworker(req, res, next) {
  if (isCaseworker(res.locals.user)) return next();
  res.status(403).render('error.njk', { title: 'You cannot use this page', text: 'Case pages are for caseworkers.' });
}

export function notFound(res) {
  res.status(404).render('error.njk', { title: 'Page not found', text: 'There is no page here, or you may not see it.' });
}

// The timeline of a case: every state change (each with the message that caused it), every
// amendment and its outcome, cancellation, money event and risk assessment (not its flags),
// oldest first.
async function timeline(c, reference) {
  const { rows } = await c.query(
    `SELECT at, kind, title, detail FROM (
       SELECT h.at, 'state' AS kind,
              initcap(h.machine) || ': ' || coalesce(h.from_state, 'none') || ' → ' || h.to_state AS title,
              h.event || CASE WHEN h.message_id IS NOT NULL THEN ' (message ' || h.direction || ', ' || h.message_id || ')' ELSE '' END AS detail,
              h.state_transition_id AS ord
         FROM hublink.removal_history h WHERE h.removal_reference = $1
       UNION ALL
       SELECT f.recorded_at, 'money', initcap(replace(f.kind, '_', ' ')) || ': ' || f.currency || ' ' || f.amount,
              initcap(f.booking) || ' booking' || coalesce(', ' || f.reason_code, '') || coalesce(': ' || f.reason_text, ''), 0
         FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1
       UNION ALL
       SELECT x.cancelled_at, 'cancellation', initcap(x.booking) || ' cancellation by ' || x.cancelled_by,
              coalesce(x.reason_code, '') || coalesce(': ' || x.reason_text, ''), 0
         FROM hublink.cancellation x JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1
       UNION ALL
       SELECT a.sent_at, 'amendment', initcap(a.booking) || ' amendment sent', 'Quote ' || a.quote_reference, 0
         FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1
       UNION ALL
       SELECT a.outcome_at, 'amendment', initcap(a.booking) || ' amendment ' || CASE WHEN a.outcome_accepted THEN 'accepted' ELSE 'not accepted' END,
              coalesce(a.outcome_reason_code, '') || coalesce(': ' || a.outcome_reason_text, ''), 0
         FROM hublink.amendment a JOIN hublink.removal r USING (removal_id)
        WHERE r.removal_reference = $1 AND a.outcome_at IS NOT NULL
       UNION ALL
       SELECT k.assessed_at, 'risk', 'Risk assessment of ' || t.ho_returnee_reference || ' recorded', 'Appendix B 4.18', 0
         FROM hublink.risk_assessment k JOIN hublink.returnee t USING (returnee_id) JOIN hublink.removal r USING (removal_id)
        WHERE r.removal_reference = $1 AND k.audience = 'hub'
     ) t ORDER BY at, ord`,
    [reference],
  );
  return rows;
}

export async function renderTimeline(env, pool, user, reference) {
  const events = await asPerson(pool, user, (c) => timeline(c, reference));
  return env.render('partials/timeline.njk', { events });
}

export async function loadCase(c, reference) {
  // This removal's names only (find_removals decrypts, and audits, the rows it returns).
  const found = await c.query('SELECT * FROM hublink.find_removals(removal => $1, page_size => 1)', [reference]);
  if (found.rows.length === 0) return null;
  const r = await c.query(
    `SELECT r.sensitivity, r.escorted, r.earliest_leave_date, r.latest_leave_date, r.destination, r.created_by, r.exclusion_dates
       FROM hublink.removal r WHERE r.removal_reference = $1`, [reference]);
  return { ...found.rows[0], ...r.rows[0] };
}

export async function reasons(c, list) {
  const { rows } = await c.query(
    'SELECT code, description FROM hublink.reason_code WHERE list = $1 AND active ORDER BY code', [list]);
  return rows;
}

// Runs a Hub function; a refusal the person can act on is shown on the case page.
async function act(req, res, next, reference, fn) {
  const user = res.locals.user;
  if (!REF.test(reference)) return notFound(res);
  try {
    await asPerson(req.app.locals.pool, user, fn);
    res.redirect(303, `/cases/${reference}`);
  } catch (err) {
    if (isNotAccessible(err)) return notFound(res);
    if (!isShown(err)) return next(err);
    req.session.flash = { error: message(err) };
    res.redirect(303, `/cases/${reference}`);
  }
}

// The new removal form holds one or more returnees (a family, Appendix B 4.22 checked for each):
// the first one's fields have plain names, the n-th one's end in _n.
export const MAX_RETURNEES = 10;
const RETURNEE_FIELDS = ['hoReference', 'givenNames', 'familyName', 'dobDay', 'dobMonth', 'dobYear', 'nationality', 'gender',
  'documentType', 'documentNumber', 'documentCountry', 'detentionCentre'];
const suffix = (i) => (i === 0 ? '' : `_${i + 1}`);

function blankReturnee() {
  return { hoReference: '', givenNames: '', familyName: '', dobDay: '', dobMonth: '', dobYear: '', nationality: '', gender: '',
    documentType: 'PASSPORT', documentNumber: '', documentCountry: '', detentionCentre: '', flags: [] };
}

function blankForm() {
  return { caseReference: '', earliestDay: '', earliestMonth: '', earliestYear: '', latestDay: '', latestMonth: '', latestYear: '',
    destinationDescription: '', destinationCountry: '', destinationAirport: '', sensitivity: '', returnees: [blankReturnee()] };
}

function readForm(body) {
  const f = blankForm();
  for (const k of Object.keys(f)) if (k !== 'returnees') f[k] = String(body[k] || '');
  const count = Math.min(Math.max(Number.parseInt(body.returneeCount, 10) || 1, 1), MAX_RETURNEES);
  f.returnees = [];
  for (let i = 0; i < count; i++) {
    const r = blankReturnee();
    for (const k of RETURNEE_FIELDS) r[k] = String(body[k + suffix(i)] || r[k]);
    r.flags = [].concat(body[`flags${suffix(i)}`] || []).map(String);
    f.returnees.push(r);
  }
  return f;
}

export function isoDate(y, m, d) {
  if (!/^\d{4}$/.test(y) || !/^\d{1,2}$/.test(m) || !/^\d{1,2}$/.test(d)) return null;
  const s = `${y}-${m.padStart(2, '0')}-${d.padStart(2, '0')}`;
  const t = new Date(`${s}T00:00:00Z`);
  return Number.isNaN(t.getTime()) || t.toISOString().slice(0, 10) !== s ? null : s;
}

// Form checks only (is each answer there, is a date a date): whether the removal may be made is
// the Hub's to say (create_removal, its JSON Schema and 4.22 for each returnee).
function checkForm(f) {
  const errors = [];
  const need = (field, value, text) => { if (!String(value || '').trim()) errors.push({ field, text }); };
  need('caseReference', f.caseReference, 'Enter the case reference');
  f.returnees.forEach((r, i) => {
    const s = suffix(i);
    const who = f.returnees.length > 1 ? `Returnee ${i + 1}: ` : '';
    need(`hoReference${s}`, r.hoReference, `${who}Enter the Home Office returnee reference`);
    need(`givenNames${s}`, r.givenNames, `${who}Enter the returnee’s given names`);
    need(`familyName${s}`, r.familyName, `${who}Enter the returnee’s family name`);
    if (!isoDate(r.dobYear, r.dobMonth, r.dobDay)) errors.push({ field: `dobDay${s}`, text: `${who}Enter a real date of birth` });
    need(`nationality${s}`, r.nationality, `${who}Enter the nationality as a 3-letter country code`);
    need(`gender${s}`, r.gender, `${who}Select the gender`);
    need(`documentNumber${s}`, r.documentNumber, `${who}Enter the travel document number`);
    need(`documentCountry${s}`, r.documentCountry, `${who}Enter the country that issued the travel document`);
    need(`detentionCentre${s}`, r.detentionCentre, `${who}Enter the detention centre`);
  });
  if (!isoDate(f.earliestYear, f.earliestMonth, f.earliestDay)) errors.push({ field: 'earliestDay', text: 'Enter a real earliest leave date' });
  if (!isoDate(f.latestYear, f.latestMonth, f.latestDay)) errors.push({ field: 'latestDay', text: 'Enter a real latest leave date' });
  need('destinationDescription', f.destinationDescription, 'Enter the destination');
  need('destinationCountry', f.destinationCountry, 'Enter the destination country as a 3-letter code');
  need('destinationAirport', f.destinationAirport, 'Enter the destination airport code');
  need('sensitivity', f.sensitivity, 'Select the sensitivity');
  return errors;
}

// The field a Hub refusal concerns: the returnee it names (4.22, or named twice), else the case.
function refusalField(f, err) {
  const m = /^returnee (\S+) /.exec(err.message || '');
  if (!m) return 'caseReference';
  const refs = f.returnees.map((r) => r.hoReference.trim().toUpperCase());
  const i = /more than once/.test(err.message) ? refs.lastIndexOf(m[1]) : refs.indexOf(m[1]);
  return `hoReference${suffix(Math.max(i, 0))}`;
}

async function newRemovalOptions(c) {
  const flags = await c.query('SELECT flag, description FROM hublink.risk_flag ORDER BY flag');
  const levels = await c.query(
    'SELECT level, description FROM hublink.sensitivity_level WHERE level = ANY (hublink.cleared_levels()) ORDER BY rank');
  return { flags: flags.rows, levels: levels.rows };
}

export function caseRoutes(app, { pool, live, store }) {
  app.locals.pool = pool;

  app.get('/cases', requireCaseworker, async (req, res, next) => {
    const q = {
      reference: String(req.query.reference || '').trim(),
      returnee: String(req.query.returnee || '').trim(),
      state: String(req.query.state || '').trim(),
      from: String(req.query.from || '').trim(),
      to: String(req.query.to || '').trim(),
      destination: String(req.query.destination || '').trim(),
    };
    const page = /^[1-9][0-9]{0,4}$/.test(String(req.query.page || '')) ? Number(req.query.page) : 1;
    let more = false;
    const errors = [];
    for (const f of ['from', 'to']) if (q[f] && !/^\d{4}-\d{2}-\d{2}$/.test(q[f])) errors.push({ field: f, text: 'Enter a date like 2026-03-16' });
    try {
      const data = await asPerson(pool, res.locals.user, async (c) => {
        const states = await c.query("SELECT state FROM hublink.state_machine_states() WHERE machine = 'removal' ORDER BY 1").catch(() => ({ rows: [] }));
        if (errors.length) return { cases: [], states: states.rows };
        // One page, filtered and ordered in SQL before any name is decrypted (docs/web.md "Figures").
        const cases = await c.query(
          `SELECT * FROM hublink.find_removals(case_ref => nullif($1, ''), returnee => nullif($2, ''),
                  in_state => nullif($3, ''), leave_from => nullif($4, '')::date, leave_to => nullif($5, '')::date,
                  going_to => nullif($6, ''), page_size => $7, page_offset => $8)`,
          [q.reference.toUpperCase(), q.returnee, q.state, q.from, q.to, q.destination, PAGE_SIZE, (page - 1) * PAGE_SIZE],
        );
        more = cases.rows.length > 0 && cases.rows[0].more;
        return { cases: cases.rows, states: states.rows };
      });
      const pageLink = (n) => `/cases?${new URLSearchParams({ ...q, page: String(n) })}`;
      res.render('cases.njk', { q, errors, page, first: (page - 1) * PAGE_SIZE + 1,
        previous: page > 1 ? pageLink(page - 1) : null, next: more ? pageLink(page + 1) : null, ...data });
    } catch (err) {
      next(err);
    }
  });

  const blankForms = new PageCache();
  app.get('/cases/new', requireCaseworker, async (req, res, next) => {
    try {
      const options = await asPerson(pool, res.locals.user, newRemovalOptions);
      const u = res.locals.user;
      blankForms.send(req, res, JSON.stringify([u.groups, u.clearance, options]),
        'new-removal.njk', { f: blankForm(), errors: [], err: {}, ...options });
    } catch (err) {
      next(err);
    }
  });

  app.post('/cases/new', requireCaseworker, async (req, res, next) => {
    const f = readForm(req.body);
    // "Add another returnee" and "Remove" only change the form (no JavaScript needed).
    const action = String(req.body.action || 'create');
    if (action !== 'create') {
      if (action === 'add' && f.returnees.length < MAX_RETURNEES) f.returnees.push(blankReturnee());
      const rm = /^remove-(\d+)$/.exec(action);
      if (rm && Number(rm[1]) >= 2 && Number(rm[1]) <= f.returnees.length) f.returnees.splice(Number(rm[1]) - 1, 1);
      try {
        const options = await asPerson(pool, res.locals.user, newRemovalOptions);
        return res.render('new-removal.njk', { f, errors: [], err: {}, focus: action === 'add' ? `hoReference${suffix(f.returnees.length - 1)}` : '', ...options });
      } catch (err) {
        return next(err);
      }
    }
    const errors = checkForm(f);
    try {
      const result = await asPerson(pool, res.locals.user, async (c) => {
        const options = await newRemovalOptions(c);
        if (errors.length) return { options };
        const returnees = f.returnees.map((r) => ({
          personalDetails: {
            hoReturneeReference: r.hoReference.trim().toUpperCase(),
            name: { givenNames: r.givenNames.trim(), familyName: r.familyName.trim() },
            dateOfBirth: isoDate(r.dobYear, r.dobMonth, r.dobDay),
            nationality: r.nationality.trim().toUpperCase(),
            gender: r.gender,
          },
          travelDocuments: [{ type: r.documentType, number: r.documentNumber.trim(), issuingCountry: r.documentCountry.trim().toUpperCase() }],
          location: { detentionCentreId: r.detentionCentre.trim() },
          risk: { flags: r.flags },
        }));
        await c.query('SAVEPOINT create_removal');
        try {
          const { rows } = await c.query(
            `SELECT hublink.create_removal(case_reference => $1, returnees => $2, earliest_leave_date => $3,
                    latest_leave_date => $4, destination => $5, sensitivity => $6) AS reference`,
            [f.caseReference.trim().toUpperCase(), JSON.stringify(returnees), isoDate(f.earliestYear, f.earliestMonth, f.earliestDay),
              isoDate(f.latestYear, f.latestMonth, f.latestDay),
              JSON.stringify({ description: f.destinationDescription.trim(), country: f.destinationCountry.trim().toUpperCase(), airportCode: f.destinationAirport.trim().toUpperCase() }),
              f.sensitivity],
          );
          return { reference: rows[0].reference };
        } catch (err) {
          if (!isShown(err)) throw err;
          await c.query('ROLLBACK TO SAVEPOINT create_removal');
          errors.push({ field: refusalField(f, err), text: err.code === '23505' ? `This returnee already has a live removal: ${message(err)}` : message(err) });
          return { options };
        }
      });
      if (result.reference) return res.redirect(303, `/cases/${result.reference}`);
      res.status(400).render('new-removal.njk', { f, errors, err: Object.fromEntries(errors.map((e) => [e.field, e.text])), ...result.options });
    } catch (err) {
      next(err);
    }
  });

  app.get('/cases/:ref', requireCaseworker, async (req, res, next) => {
    const reference = req.params.ref;
    if (!REF.test(reference)) return notFound(res);
    try {
      const data = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, reference);
        if (!removal) return null;
        const quotes = await c.query('SELECT count(*)::int AS n FROM hublink.removal_quotes($1)', [reference]);
        return {
          removal,
          events: await timeline(c, reference),
          quoteCount: quotes.rows[0].n,
          cancellationReasons: await reasons(c, 'cancellation'),
          changeReasons: await reasons(c, 'change'),
        };
      });
      if (!data) return notFound(res);
      const flash = req.session.flash;
      delete req.session.flash;
      res.render('case.njk', { ...data, flash });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });

  // Server-sent events: the timeline again whenever the removal changes (LISTEN hublink_status).
  app.get('/cases/:ref/events', requireCaseworker, async (req, res, next) => {
    const reference = req.params.ref;
    if (!REF.test(reference)) return notFound(res);
    try {
      // Whether the person may see it (row-level security); no name needs decrypting here.
      const visible = await asPerson(pool, res.locals.user, (c) =>
        c.query('SELECT FROM hublink.removal WHERE removal_reference = $1', [reference]));
      if (visible.rowCount === 0) return notFound(res);
    } catch (err) {
      return next(err);
    }
    res.set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write('retry: 5000\n\n');
    const sessionId = req.session.id;
    const stop = live.watch(reference, res.locals.user, res, () => store.alive(sessionId));
    req.on('close', stop);
  });

  app.post('/cases/:ref/request-quotes', requireCaseworker, (req, res, next) =>
    // Which request (escort first when escorted, else travel) and the departure airports are the
    // Hub's rule and reference data (hublink.request_quotes; docs/hub.md "Requesting quotes").
    act(req, res, next, req.params.ref, (c) => c.query('SELECT hublink.request_quotes($1)', [req.params.ref])));

  app.get('/cases/:ref/quotes', requireCaseworker, async (req, res, next) => {
    const reference = req.params.ref;
    if (!REF.test(reference)) return notFound(res);
    try {
      const data = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, reference);
        if (!removal) return null;
        const quotes = await c.query(
          `SELECT q.*, t.conditions, t.hand_baggage_only,
                  (SELECT json_agg(json_build_object('segment', i.segment_id, 'carrier', coalesce(i.carrier_code, i.provider_name),
                          'flight', i.flight_number, 'from', coalesce(i.start_point->>'airportCode', i.start_point->>'name'),
                          'to', coalesce(i.end_point->>'airportCode', i.end_point->>'name'), 'type', i.segment_type,
                          'departs', i.start_time, 'arrives', i.end_time) ORDER BY i.start_time)
                     FROM hublink.itinerary_segment i WHERE i.travel_quote_id = t.travel_quote_id AND i.current) AS itinerary
             FROM hublink.removal_quotes($1) q
             JOIN hublink.travel_quote t ON t.travel_quote_reference = q.travel_quote_reference
            ORDER BY q.rank`, [reference]);
        return { removal, quotes: quotes.rows };
      });
      if (!data) return notFound(res);
      res.render('quotes.njk', data);
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });

  app.post('/cases/:ref/choose', requireCaseworker, (req, res, next) =>
    act(req, res, next, req.params.ref, (c) =>
      c.query('SELECT hublink.choose_quote($1, $2)', [req.params.ref, String(req.body.quote || '')])));

  app.post('/cases/:ref/cancel', requireCaseworker, (req, res, next) =>
    act(req, res, next, req.params.ref, (c) =>
      c.query('SELECT hublink.cancel_removal($1, $2, nullif($3, \'\'), $4)',
        [req.params.ref, String(req.body.reason || ''), String(req.body.reasonText || '').trim(), req.body.retain === 'yes'])));

  app.post('/cases/:ref/amend', requireCaseworker, (req, res, next) =>
    act(req, res, next, req.params.ref, (c) =>
      c.query('SELECT hublink.amend_travel($1, $2)', [req.params.ref, JSON.stringify({
        other: String(req.body.other || '').trim(),
      })])));
}
