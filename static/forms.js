/* Callsource forms (MIT): form submissions as leads. Hand-written, no dependencies, no build step.
 *
 * Not embedded by anyone: tracker.js imports this module (from the address the session answer
 * gives, /t/forms.js) only on sites that take form leads, so the core snippet stays small
 * (budgets: tests/tracker/test_tracker_size.py). Served minified by rjsmin and gzipped.
 *
 * Any form with a filled phone or e-mail field is sent, with the visit's session, when it is
 * submitted: a listener in the capture phase reads the fields and hands them to
 * navigator.sendBeacon (or a keepalive fetch), and returns; the form submits as it always did,
 * nothing waits for us and nothing is prevented. Never sent: password, file, hidden and button
 * fields, card numbers and codes (by type, name or autocomplete), disabled and unticked fields.
 *   data-callsource-noform   on a form or any ancestor: that form is never sent
 *   data-callsource-consent  on a checkbox: the visitor's consent to keeping the form
 * Where the site asks for consent (?consent=required in this file's address) a form goes only
 * if its consent checkbox is ticked, or, with data-consent="required" on the snippet, once the
 * visitor gave it (callsource('consent', true)). Silent, as tracker.js: a failure costs the lead,
 * never the form.
 */
var w = window,
  d = document,
  // The snippet's own tag says which site this is and where its API is, as tracker.js reads it.
  tag = d.querySelector('script[data-site]'),
  cfg = tag && tag.dataset,
  me = new URL(import.meta.url),
  ASK = me.searchParams.get('consent') == 'required',
  // Field names and autocomplete tokens of secrets and payment data, in our users' languages.
  SECRET = /pass|pwd|парол|contrase|secret|token|csrf|nonce|captcha|otp|one-time|card|карт|tarjeta|cc-|cvv|cvc|csc|iban/i,
  SKIP = /^(hidden|password|file|submit|button|reset|image)$/,
  last;

if (cfg && cfg.site && !w.__csForms) {
  w.__csForms = 1; // another copy (a second snippet, a changed consent rule) stays out of the way
  d.addEventListener('submit', grab, true);
}

function grab(e) {
  try {
    var f = e.target,
      api = (cfg.api || me.origin).replace(/\/+$/, '') + '/t/' + cfg.site,
      sid = JSON.parse(sessionStorage['cs:' + cfg.site])[0], // where tracker.js keeps the session
      fields = {},
      has,
      ok,
      b;
    if (!sid || f.closest('[data-callsource-noform]')) return;
    for (var el of f.elements) {
      var t = el.type,
        n = el.name || el.id,
        v = el.value,
        k;
      if (el.matches('[data-callsource-consent]')) ok = ok || el.checked;
      else if (
        n && v && !el.disabled && !SKIP.test(t) && !SECRET.test(n + ' ' + el.autocomplete) &&
        !(/^(checkbox|radio)$/.test(t) && !el.checked)
      ) {
        k =
          t == 'tel' || /phone|(^|[^a-z])tel|телефон/i.test(n) ? 'phone'
          : t == 'email' || /mail|почт/i.test(n) ? 'email'
          : /^(name|fio|fullname|your-name|имя|фио|nombre)$/i.test(n) ? 'name'
          : n;
        if (k == 'phone' || k == 'email') has = 1;
        // The first phone, e-mail and name count; a group of checkboxes is listed.
        fields[k] = fields[k] ? (k == n ? fields[k] + ', ' + v : fields[k]) : v;
      }
    }
    // The visitor's consent to the snippet counts where the snippet asks for it.
    ok = ok || (cfg.consent == 'required' && /(^|; )cs_vid=[^;]/.test(d.cookie));
    if (!has || (ASK && !ok)) return;
    b = JSON.stringify({
      url: location.href,
      // getAttribute: a field named "id" or "name" would stand in for the form's own.
      form_id: f.getAttribute('id') || f.getAttribute('name') || void 0,
      fields: fields,
      consent: ok || void 0
    });
    if (b == last) return; // a double click sends one lead
    last = b;
    var url = api + '/sessions/' + sid + '/forms';
    // A string goes as text/plain: no CORS preflight, and the beacon outlives the page.
    navigator.sendBeacon(url, b) || fetch(url, { method: 'POST', body: b, keepalive: true }).catch(() => 0);
  } catch (x) {}
}
