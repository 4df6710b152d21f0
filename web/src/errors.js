// Database errors shown to the person: the Hub functions' own words (their errmsg and
// errdetail are written for people), with the field they concern when known. Nothing else of
// an unexpected error reaches the page; the server log has it. 55000: the removal is not in a
// state for that (object_not_in_prerequisite_state).
const SHOWN = new Set(['23505', '42501', '22023', '22007', '22008', '23514', '22P02', '23502', 'P0001', 'HL001', '23503', '02000', 'P0002', '55000']);

export function isShown(err) {
  return err && typeof err.code === 'string' && SHOWN.has(err.code);
}

export function message(err) {
  const parts = [err.message];
  if (err.detail) parts.push(err.detail);
  return parts.join('. ').replace(/\.\./g, '.');
}

export function isNotAccessible(err) {
  return err && err.code === '42501' && /is not accessible/.test(err.message);
}
