// Enhancement only: GOV.UK components, and the live timeline where a page has one. Every page
// works without this script.
import { initAll } from '/assets/govuk-frontend.min.js';

initAll();

const timeline = document.querySelector('[data-live-timeline]');
if (timeline && 'EventSource' in window) {
  const status = document.getElementById('live-status');
  const source = new EventSource(timeline.getAttribute('data-live-timeline'));
  source.addEventListener('timeline', (e) => {
    const fresh = new DOMParser().parseFromString(e.data, 'text/html').body.firstElementChild;
    if (fresh) timeline.replaceChildren(fresh);
    if (status) status.textContent = 'This timeline updates by itself. Last updated at ' + new Date().toLocaleTimeString('en-GB') + '; reload the page for the new state and actions.';
  });
  source.addEventListener('open', () => { if (status) status.textContent = 'This timeline updates by itself.'; });
  source.addEventListener('gone', () => source.close());
}
