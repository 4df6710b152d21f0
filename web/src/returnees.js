// Editing a returnee's details after creation (docs/web.md "Editing a returnee"): the form is
// filled with the details as they are (decrypted as the person, audited), and the edit is
// hublink.edit_returnee called as the person with every field and a reason. The Hub decides
// what changed, whether it may change now (the reference only before any quote; not while a
// booking or an amendment waits), checks 4.22 for a new reference, and tells the providers
// (new quotes, or a travel amendment once booked); its refusal is shown in the error summary.
import { asPerson } from './db.js';
import { isNotAccessible, isShown, message } from './errors.js';
import { REF, requireCaseworker, notFound, loadCase, isoDate } from './cases.js';

async function returnees(c, removal) {
  const { rows } = await c.query(
    `SELECT t.ho_returnee_reference AS ho, p.given_names, p.family_name, p.date_of_birth, p.nationality, p.gender,
            d.document_type, d.document_number, d.issuing_country, d.expiry_date
       FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
       LEFT JOIN LATERAL (SELECT * FROM hublink.travel_documents_of(t.returnee_id) x ORDER BY x.travel_document_id DESC LIMIT 1) d ON true
      WHERE r.removal_reference = $1 ORDER BY t.returnee_id`, [removal.removal_reference]);
  return rows;
}

async function changes(c, removal) {
  const { rows } = await c.query(
    `SELECT t.ho_returnee_reference AS ho, c.fields, c.reason, c.message_id, c.changed_by, c.changed_at
       FROM hublink.returnee_change c JOIN hublink.returnee t USING (returnee_id) JOIN hublink.removal r ON r.removal_id = c.removal_id
      WHERE r.removal_reference = $1 ORDER BY c.changed_at DESC, c.returnee_change_id DESC`, [removal.removal_reference]);
  return rows;
}

const split = (d) => (d ? { y: d.slice(0, 4), m: String(Number(d.slice(5, 7))), d: String(Number(d.slice(8, 10))) } : { y: '', m: '', d: '' });

function formOf(r) {
  const dob = split(r.date_of_birth);
  const exp = split(r.expiry_date);
  return { ho: r.ho, hoReference: r.ho, givenNames: r.given_names || '', familyName: r.family_name || '', dobDay: dob.d, dobMonth: dob.m, dobYear: dob.y,
    nationality: (r.nationality || '').trim(), gender: r.gender || '', documentType: r.document_type || 'PASSPORT', documentNumber: r.document_number || '',
    documentCountry: (r.issuing_country || '').trim(), expiryDay: exp.d, expiryMonth: exp.m, expiryYear: exp.y, reason: '' };
}

const FIELDS = ['hoReference', 'givenNames', 'familyName', 'dobDay', 'dobMonth', 'dobYear', 'nationality', 'gender', 'documentType',
  'documentNumber', 'documentCountry', 'expiryDay', 'expiryMonth', 'expiryYear', 'reason'];

// The field a Hub refusal concerns, for the error summary's link.
function refusalField(err) {
  const m = err.message || '';
  if (/reference|live removal/.test(m)) return 'hoReference';
  if (/nationality/.test(m)) return 'nationality';
  if (/date of birth/.test(m)) return 'dobDay';
  if (/sex/.test(m)) return 'gender';
  if (/document/.test(m)) return 'documentNumber';
  if (/reason/.test(m)) return 'reason';
  return 'givenNames';
}

export function returneeRoutes(app, { pool }) {
  const load = async (req, res) => {
    if (!REF.test(req.params.ref)) return null;
    return asPerson(pool, res.locals.user, async (c) => {
      const removal = await loadCase(c, req.params.ref);
      if (!removal) return null;
      return { removal, returnees: await returnees(c, removal), changes: await changes(c, removal) };
    });
  };

  app.get('/cases/:ref/edit-returnee', requireCaseworker, async (req, res, next) => {
    try {
      const d = await load(req, res);
      if (!d) return notFound(res);
      const ho = String(req.query.ho || (d.returnees.length === 1 ? d.returnees[0].ho : ''));
      const r = d.returnees.find((x) => x.ho === ho);
      const flash = req.session.flash;
      delete req.session.flash;
      res.render('case-edit-returnee.njk', { ...d, f: r ? formOf(r) : null, errors: [], err: {}, flash });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });

  app.post('/cases/:ref/edit-returnee', requireCaseworker, async (req, res, next) => {
    if (!REF.test(req.params.ref)) return notFound(res);
    const f = { ho: String(req.body.ho || '') };
    for (const k of FIELDS) f[k] = String(req.body[k] || '').trim();
    // Form checks only: are the answers there, is a date a date.
    const errors = [];
    const need = (field, value, text) => { if (!value) errors.push({ field, text }); };
    need('hoReference', f.hoReference, 'Enter the Home Office returnee reference');
    need('givenNames', f.givenNames, 'Enter the returnee’s given names');
    need('familyName', f.familyName, 'Enter the returnee’s family name');
    const dob = isoDate(f.dobYear, f.dobMonth, f.dobDay);
    if (!dob) errors.push({ field: 'dobDay', text: 'Enter a real date of birth' });
    need('nationality', f.nationality, 'Enter the nationality as a 3-letter country code');
    need('gender', f.gender, 'Select the sex as on the travel document');
    need('documentNumber', f.documentNumber, 'Enter the travel document number');
    need('documentCountry', f.documentCountry, 'Enter the country that issued the travel document');
    const expiryGiven = f.expiryDay || f.expiryMonth || f.expiryYear;
    const expiry = expiryGiven ? isoDate(f.expiryYear, f.expiryMonth, f.expiryDay) : null;
    if (expiryGiven && !expiry) errors.push({ field: 'expiryDay', text: 'Enter a real expiry date, or leave it empty' });
    need('reason', f.reason, 'Enter why the details change');
    try {
      const result = await asPerson(pool, res.locals.user, async (c) => {
        const removal = await loadCase(c, req.params.ref);
        if (!removal) return null;
        if (!errors.length) {
          await c.query('SAVEPOINT edit_returnee');
          try {
            const doc = { type: f.documentType, number: f.documentNumber.toUpperCase(), issuingCountry: f.documentCountry.toUpperCase() };
            if (expiry) doc.expiryDate = expiry;
            const { rows } = await c.query('SELECT hublink.edit_returnee($1, $2, $3, $4) AS sent', [removal.removal_reference, f.ho, JSON.stringify({
              hoReturneeReference: f.hoReference.toUpperCase(), givenNames: f.givenNames, familyName: f.familyName, dateOfBirth: dob,
              nationality: f.nationality.toUpperCase(), gender: f.gender, document: doc,
            }), f.reason]);
            return { sent: true, message: rows[0].sent, travel: removal.travel_state };
          } catch (err) {
            if (!isShown(err) || isNotAccessible(err)) throw err;
            await c.query('ROLLBACK TO SAVEPOINT edit_returnee');
            errors.push({ field: refusalField(err), text: message(err) });
          }
        }
        return { removal, returnees: await returnees(c, removal), changes: await changes(c, removal) };
      });
      if (!result) return notFound(res);
      if (result.sent) {
        req.session.flash = { done: !result.message ? 'The details were changed.'
          : ['booked', 'amended'].includes(result.travel) ? 'The details were changed and sent to the travel provider as an amendment.'
            : 'The details were changed and new quotes were asked for with them.' };
        return res.redirect(303, `/cases/${req.params.ref}/edit-returnee?ho=${encodeURIComponent(f.hoReference.toUpperCase())}`);
      }
      res.status(400).render('case-edit-returnee.njk', { ...result, f, errors, err: Object.fromEntries(errors.map((e) => [e.field, e.text])) });
    } catch (err) {
      if (isNotAccessible(err)) return notFound(res);
      next(err);
    }
  });
}
