// A structured travel amendment (docs/web.md "Amending the travel booking"; Appendix A 4.11,
// Appendix B 4.20): a new travel date and/or a new arrival airport with a reason from the
// change list, sent by hublink.amend_travel_itinerary as the person, which builds the message
// from the booked itinerary and says whether it may be sent. The page shows the booked
// flights, every travel amendment with the provider's answer, and the provider's costs; the
// answer also appears on the case's live timeline.
import { asPerson } from './db.js';
import { isNotAccessible, isShown, message } from './errors.js';
import { REF, requireCaseworker, notFound, loadCase, reasons, isoDate } from './cases.js';

async function data(c, removal) {
  const ref = removal.removal_reference;
  const flights = await c.query(
    `SELECT s.segment_id, s.segment_type, coalesce(s.carrier_code || s.flight_number, s.provider_name) AS flight,
            coalesce(s.start_point->>'airportCode', s.start_point->>'name') AS "from",
            coalesce(s.end_point->>'airportCode', s.end_point->>'name') AS "to", s.start_time, s.end_time
       FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id) JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 AND s.current AND q.travel_quote_reference = hublink.booked_reference(r, 'travel')
      ORDER BY s.start_time, s.segment_id`, [ref]);
  const amendments = await c.query(
    `SELECT a.sent_at, a.details, a.outcome_accepted, a.outcome_reason_code, a.outcome_reason_text, a.outcome_at
       FROM hublink.amendment a JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 AND a.booking = 'travel' ORDER BY a.sent_at DESC, a.amendment_id DESC`, [ref]);
  const costs = await c.query(
    `SELECT f.kind, f.amount, f.currency, f.reason_code, f.reason_text, f.recorded_at
       FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id)
      WHERE r.removal_reference = $1 AND f.booking = 'travel' ORDER BY f.recorded_at DESC, f.financial_consequence_id DESC`, [ref]);
  // What each amendment asked for, in words: the requested flight, else its free text.
  const asked = (d) => {
    const ch = d.itineraryChanges && d.itineraryChanges[0];
    const seg = ch && ch.requestedSegments && ch.requestedSegments[0];
    if (seg) return `${seg.startPoint.airportCode || ''} to ${seg.endPoint.airportCode || ''} on ${seg.date}${ch.reason ? ` (${ch.reason.code}${ch.reason.text ? `: ${ch.reason.text}` : ''})` : ''}`;
    return d.other || 'Passenger details';
  };
  return {
    removal,
    flights: flights.rows,
    amendments: amendments.rows.map((a) => ({ ...a, asked: asked(a.details) })),
    costs: costs.rows,
    changeReasons: await reasons(c, 'change'),
  };
}

const blank = () => ({ day: '', month: '', year: '', airport: '', reason: '', reasonText: '' });

export function travelAmendRoutes(app, { pool }) {
  app.get('/cases/:ref/amend-travel', requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    try {
      const d = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        return removal ? data(c, removal) : null;
      });
      if (!d) return notFound(res);
      res.render('case-amend-travel.njk', { ...d, errors: [], err: {}, f: blank() });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });

  app.post('/cases/:ref/amend-travel', requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    const f = blank();
    for (const k of Object.keys(f)) f[k] = String(req.body[k] || '').trim();
    // Form checks only: is a date a date, is a reason chosen. What may be changed is the Hub's.
    const errors = [];
    const dateGiven = f.day || f.month || f.year;
    const date = dateGiven ? isoDate(f.year, f.month, f.day) : null;
    if (dateGiven && !date) errors.push({ field: 'day', text: 'Enter a real travel date, or leave it empty to keep the date' });
    if (!f.reason) errors.push({ field: 'reason', text: 'Select why the travel changes' });
    try {
      const result = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        if (!removal) return null;
        if (!errors.length) {
          await c.query('SAVEPOINT amend_travel');
          try {
            await c.query('SELECT hublink.amend_travel_itinerary($1, $2, $3, nullif($4, \'\'), nullif($5, \'\'))',
              [removal.removal_reference, f.reason, date, f.airport, f.reasonText]);
            return { sent: true };
          } catch (err) {
            if (!isShown(err) || isNotAccessible(err)) throw err;
            await c.query('ROLLBACK TO SAVEPOINT amend_travel');
            const field = /airport/.test(err.message) ? 'airport' : /date/.test(err.message) ? 'day' : /reason/.test(err.message) ? 'reason' : 'day';
            errors.push({ field, text: message(err) });
          }
        }
        return data(c, removal);
      });
      if (!result) return notFound(res);
      if (result.sent) return res.redirect(303, `/cases/${req.params.ref}/amend-travel`);
      res.status(400).render('case-amend-travel.njk', { ...result, errors, err: Object.fromEntries(errors.map((e) => [e.field, e.text])), f });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });
}
