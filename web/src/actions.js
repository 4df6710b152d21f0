// A case's page actions after creation (docs/web.md "Page actions"; Appendix B 4.18, 4.20):
// change the risk profile (set_risk) and ask for new quotes (requote), amend the escort booking
// (amend_escort), cancel one booking (cancel_booking). Each page reads with the person's rights
// and each action is one Hub function called as the person; whether it may be done is the
// Hub's to say, and its refusal is shown in the page's error summary.
import { asPerson } from './db.js';
import { isNotAccessible, isShown, message } from './errors.js';
import { REF, requireCaseworker, notFound, loadCase, reasons, isoDate } from './cases.js';

// Runs fn(c, removal) as the person for a removal they may see; null when they may not.
async function withCase(pool, user, reference, fn) {
  if (!REF.test(reference)) return null;
  return asPerson(pool, user, async (c) => {
    const removal = await loadCase(c, reference);
    return removal ? fn(c, removal) : null;
  });
}

// A Hub call inside a savepoint: a refusal the person can act on comes back as its message and
// the rest of the transaction (the page's reads) goes on.
async function tryHub(c, fn) {
  await c.query('SAVEPOINT hub_action');
  try {
    await fn();
    await c.query('RELEASE SAVEPOINT hub_action');
    return null;
  } catch (err) {
    if (!isShown(err) || isNotAccessible(err)) throw err;
    await c.query('ROLLBACK TO SAVEPOINT hub_action');
    return message(err);
  }
}

function errorMap(errors) {
  return Object.fromEntries(errors.map((e) => [e.field, e.text]));
}

async function handle(res, next, work) {
  try {
    return await work();
  } catch (err) {
    if (isNotAccessible(err)) return notFound(res);
    return next(err);
  }
}

// --- risk (4.18) ---------------------------------------------------------------------------

async function riskData(c, removal) {
  const returnees = await c.query(
    `SELECT t.ho_returnee_reference AS ho, p.given_names || ' ' || p.family_name AS name,
            coalesce(a.flags, '{}') AS flags, a.notes, a.assessed_at,
            (SELECT s.escorts_required FROM hublink.risk_assessment s
              WHERE s.returnee_id = t.returnee_id AND s.audience = 'tsp' AND s.current) AS escorts_required
       FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
       LEFT JOIN LATERAL hublink.risk_assessment_of(t.returnee_id, 'hub') a ON true
      WHERE r.removal_reference = $1 ORDER BY t.returnee_id`, [removal.removal_reference]);
  const flags = await c.query('SELECT flag, description, escorted FROM hublink.risk_flag ORDER BY flag');
  const quotes = await c.query('SELECT count(*)::int AS n FROM hublink.removal_quotes($1)', [removal.removal_reference]);
  return { removal, returnees: returnees.rows, flags: flags.rows, quoteCount: quotes.rows[0].n };
}

// --- escort amendment (4.9) ----------------------------------------------------------------

async function escortData(c, removal) {
  const segments = await c.query(
    `SELECT s.segment_id, s.transport_type, s.returnee_present, s.planned_start, s.planned_finish,
            coalesce(s.start_point->>'airportCode', s.start_point->>'detentionCentreId', s.start_point->>'prisonId',
                     s.start_point->>'description', 'an address') AS start_name,
            coalesce(s.finish_point->>'airportCode', s.finish_point->>'detentionCentreId', s.finish_point->>'prisonId',
                     s.finish_point->>'description', 'an address') AS finish_name
       FROM hublink.escort_segment s JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 AND s.current ORDER BY s.segment_id`, [removal.removal_reference]);
  const returnees = await c.query(
    `SELECT t.ho_returnee_reference AS ho, p.given_names || ' ' || p.family_name AS name
       FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
      WHERE r.removal_reference = $1 ORDER BY t.returnee_id`, [removal.removal_reference]);
  const booked = await c.query(
    `SELECT k.escort_quote_reference, q.escort_date FROM hublink.escort_booking k JOIN hublink.removal r USING (removal_id)
       LEFT JOIN hublink.escort_quote q ON q.removal_id = k.removal_id AND q.escort_quote_reference = k.escort_quote_reference
      WHERE r.removal_reference = $1 AND k.outcome = 'ACCEPTED' ORDER BY k.escort_booking_id DESC LIMIT 1`, [removal.removal_reference]);
  return { removal, segments: segments.rows, returnees: returnees.rows, booked: booked.rows[0] || null, changeReasons: await reasons(c, 'change') };
}

function blankEscortForm() {
  return { segment: '', startTime: '', finishTime: '', startDay: '', startMonth: '', startYear: '', finishDay: '', finishMonth: '', finishYear: '',
    reason: '', reasonText: '', location: '', locationReturnee: '', sendRisk: '', other: '' };
}

const TIME = /^([01]?\d|2[0-3]):([0-5]\d)$/;

// Form checks only: is something asked for, are the dates and times real. Whether the escort
// can be changed so is the ESP's to answer.
function checkEscortForm(f, data) {
  const errors = [];
  const asked = f.segment || f.location.trim() || f.sendRisk === 'yes' || f.other.trim();
  if (!asked) errors.push({ field: 'segment', text: 'Choose a segment to retime, give a new location, send the new risk or describe the change' });
  if (f.segment) {
    if (!data.segments.some((s) => s.segment_id === f.segment)) errors.push({ field: 'segment', text: 'Choose one of the booked segments' });
    if (!isoDate(f.startYear, f.startMonth, f.startDay)) errors.push({ field: 'startDay', text: 'Enter a real start date' });
    if (!TIME.test(f.startTime.trim())) errors.push({ field: 'startTime', text: 'Enter the start time in 24-hour format, like 06:30' });
    if (!isoDate(f.finishYear, f.finishMonth, f.finishDay)) errors.push({ field: 'finishDay', text: 'Enter a real finish date' });
    if (!TIME.test(f.finishTime.trim())) errors.push({ field: 'finishTime', text: 'Enter the finish time in 24-hour format, like 09:00' });
    if (!f.reason) errors.push({ field: 'reason', text: 'Select why the segment changes' });
  }
  if (f.location.trim() && !data.returnees.some((r) => r.ho === f.locationReturnee)) {
    errors.push({ field: 'locationReturnee', text: 'Select the returnee who moved' });
  }
  if (f.location.trim() && !/^[A-Z0-9_]{2,40}$/.test(f.location.trim().toUpperCase())) {
    errors.push({ field: 'location', text: 'Enter the detention centre code, like HARMONDSWORTH_IRC' });
  }
  return errors;
}

// --- cancelling one booking (4.20) -----------------------------------------------------------

async function cancelData(c, removal) {
  const costs = await c.query(
    `SELECT f.booking, f.kind, f.amount, f.currency, f.reason_code, f.reason_text, f.recorded_at
       FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 ORDER BY f.recorded_at, f.financial_consequence_id`, [removal.removal_reference]);
  return { removal, costs: costs.rows, cancellationReasons: await reasons(c, 'cancellation') };
}

export function actionRoutes(app, { pool }) {
  const page = (view, load) => (req, res, next) => handle(res, next, async () => {
    const data = await withCase(pool, res.locals.user, req.params.ref, load);
    if (!data) return notFound(res);
    res.render(view, { ...data, errors: [], err: {}, f: {}, done: req.query.done === '1' });
  });

  app.get('/cases/:ref/risk', requireCaseworker, page('case-risk.njk', riskData));

  app.post('/cases/:ref/risk', requireCaseworker, (req, res, next) => handle(res, next, async () => {
    const f = { returnee: String(req.body.returnee || ''), flags: [].concat(req.body.flags || []).map(String), notes: String(req.body.notes || '').trim() };
    const result = await withCase(pool, res.locals.user, req.params.ref, async (c, removal) => {
      const refused = await tryHub(c, () => c.query('SELECT hublink.set_risk($1, $2, $3, nullif($4, \'\'))',
        [removal.removal_reference, f.returnee, f.flags, f.notes]));
      return { refused, data: refused ? await riskData(c, removal) : null };
    });
    if (!result) return notFound(res);
    if (!result.refused) return res.redirect(303, `/cases/${req.params.ref}/risk?done=1`);
    const errors = [{ field: `flags-${f.returnee}`, text: result.refused }];
    res.status(400).render('case-risk.njk', { ...result.data, errors, err: errorMap(errors), f, done: false });
  }));

  // Re-quote (Appendix A 4.5): the Hub profiles the risk again and asks the ESP (escorted) or
  // the TSP again; earlier quotes can no longer be booked.
  app.post('/cases/:ref/requote', requireCaseworker, (req, res, next) => handle(res, next, async () => {
    const result = await withCase(pool, res.locals.user, req.params.ref, (c, removal) =>
      tryHub(c, () => c.query('SELECT hublink.requote($1)', [removal.removal_reference])).then((refused) => ({ refused })));
    if (!result) return notFound(res);
    if (result.refused) req.session.flash = { error: result.refused };
    res.redirect(303, `/cases/${req.params.ref}`);
  }));

  app.get('/cases/:ref/amend-escort', requireCaseworker, (req, res, next) => handle(res, next, async () => {
    const data = await withCase(pool, res.locals.user, req.params.ref, escortData);
    if (!data) return notFound(res);
    res.render('case-amend-escort.njk', { ...data, errors: [], err: {}, f: blankEscortForm() });
  }));

  app.post('/cases/:ref/amend-escort', requireCaseworker, (req, res, next) => handle(res, next, async () => {
    const f = { ...blankEscortForm() };
    for (const k of Object.keys(f)) f[k] = String(req.body[k] || '');
    const result = await withCase(pool, res.locals.user, req.params.ref, async (c, removal) => {
      const data = await escortData(c, removal);
      const errors = checkEscortForm(f, data);
      if (errors.length) return { data, errors };
      // The amendment's body from the booked rows: the chosen segment as booked with its new
      // times (UK local time, sent with its offset), the returnee's new location, and the
      // escort risk assessment the Hub's profiling made for the ESP (hublink.profile_risk).
      const refused = await tryHub(c, () => c.query(
        `SELECT hublink.amend_escort($1, jsonb_strip_nulls(jsonb_build_object(
            'segmentChanges', (SELECT jsonb_build_array(jsonb_build_object(
                    'affectedSegmentIds', jsonb_build_array(s.segment_id), 'cancelled', false,
                    'replacementSegments', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                        'segmentId', s.segment_id, 'startPoint', s.start_point, 'finishPoint', s.finish_point,
                        'transportType', s.transport_type, 'returneePresent', s.returnee_present,
                        'plannedStart', to_char((($3::date + $4::time) AT TIME ZONE 'Europe/London') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                        'plannedFinish', to_char((($5::date + $6::time) AT TIME ZONE 'Europe/London') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                        'escortNumbers', to_jsonb(nullif(s.escort_numbers, '{}'))))),
                    'reason', jsonb_strip_nulls(jsonb_build_object('code', $7::text, 'text', nullif($8, '')))))
                  FROM hublink.escort_segment s JOIN hublink.removal r USING (removal_id)
                 WHERE r.removal_reference = $1 AND s.current AND s.segment_id = $2),
            'returneeChanges', (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                    'hoReturneeReference', t.ho_returnee_reference,
                    'location', CASE WHEN t.ho_returnee_reference = $9 AND $10 <> '' THEN jsonb_build_object('detentionCentreId', upper($10)) END,
                    'escortRiskAssessment', CASE WHEN $11 THEN (SELECT jsonb_strip_nulls(jsonb_build_object('flags', to_jsonb(a.flags), 'notes', a.notes))
                                                                  FROM hublink.risk_assessment_of(t.returnee_id, 'esp') a) END)) ORDER BY t.returnee_id)
                  FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
                 WHERE r.removal_reference = $1 AND ((t.ho_returnee_reference = $9 AND $10 <> '') OR $11)),
            'other', nullif($12, ''))))`,
        [removal.removal_reference, f.segment, f.segment ? isoDate(f.startYear, f.startMonth, f.startDay) : null, f.segment ? f.startTime.trim() : null,
          f.segment ? isoDate(f.finishYear, f.finishMonth, f.finishDay) : null, f.segment ? f.finishTime.trim() : null, f.reason || null, f.reasonText.trim(),
          f.locationReturnee, f.location.trim(), f.sendRisk === 'yes', f.other.trim()]));
      return refused ? { data, errors: [{ field: f.segment ? 'segment' : 'other', text: refused }] } : { sent: true };
    });
    if (!result) return notFound(res);
    if (result.sent) return res.redirect(303, `/cases/${req.params.ref}`);
    res.status(400).render('case-amend-escort.njk', { ...result.data, errors: result.errors, err: errorMap(result.errors), f });
  }));

  app.get('/cases/:ref/cancel-booking', requireCaseworker, page('case-cancel-booking.njk', cancelData));

  app.post('/cases/:ref/cancel-booking', requireCaseworker, (req, res, next) => handle(res, next, async () => {
    const f = { booking: String(req.body.booking || ''), reason: String(req.body.reason || ''), reasonText: String(req.body.reasonText || '').trim(), retain: req.body.retain === 'yes' };
    const errors = [];
    if (!['escort', 'travel'].includes(f.booking)) errors.push({ field: 'booking', text: 'Select the booking to cancel' });
    if (!f.reason) errors.push({ field: 'reason', text: 'Select the reason for the cancellation' });
    const result = await withCase(pool, res.locals.user, req.params.ref, async (c, removal) => {
      if (!errors.length) {
        const refused = await tryHub(c, () => c.query('SELECT hublink.cancel_booking($1, $2, $3, nullif($4, \'\'), $5)',
          [removal.removal_reference, f.booking, f.reason, f.reasonText, f.booking === 'travel' ? f.retain : null]));
        if (!refused) return { sent: true };
        errors.push({ field: 'booking', text: refused });
      }
      return { data: await cancelData(c, removal) };
    });
    if (!result) return notFound(res);
    if (result.sent) return res.redirect(303, `/cases/${req.params.ref}`);
    res.status(400).render('case-cancel-booking.njk', { ...result.data, errors, err: errorMap(errors), f, done: false });
  }));
}
