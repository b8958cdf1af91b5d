/* Callsource tracker (MIT): dynamic number insertion. Hand-written, no dependencies, no build step.
 *
 *   <script async src="https://HOST/t/tracker.js" data-site="PUBLIC_KEY"></script>
 *   optional: data-api="https://API-HOST"  the API base (default: the origin this file came from)
 *             data-consent="required"      remember no visitor until callsource('consent', true)
 *
 *   callsource('numbers', fn)   fn([{target, number, kind}]) once known and whenever they change;
 *                               fn([]) when the server tracks no one here (a crawler, to it: the
 *                               tag then carries data-bot="1")
 *   callsource('consent', bool) the visitor accepted (or declined) marketing cookies
 *   Sites that take form leads: the session answer names static/forms.js, imported once (the
 *   form capture, its opt-out and consent rules are described there).
 *   Calls made before this file loads are queued by the usual stub:
 *   window.callsource = window.callsource || function () { (callsource.q = callsource.q || []).push(arguments) };
 *
 * The app serves this file minified by rjsmin (which strips whitespace and comments but renames
 * nothing) and gzipped, within a budget of 2,500 bytes (tests/tracking/test_snippet.py). So the
 * code is lean on purpose: short local names, one way of doing each thing, tables as regexes.
 * Comments are free: they explain why.
 *
 * Silent by design: whatever fails (the API down, slow or refusing, storage blocked, odd markup),
 * the page keeps its own numbers and nothing reaches the console. Needs fetch and AbortController
 * (every browser since 2019); older ones get the page as it is.
 */
(function (w, d) {
  var me = w.callsource;
  // A second copy of the snippet finds the first one installed and stays out of the way.
  if (me && me.cs) return;

  // Set while a classic script runs, async and defer included.
  var tag = d.currentScript,
    cfg = tag.dataset,
    site = cfg.site,
    consent = cfg.consent != 'required',
    KEY = 'cs:' + site, // sessionStorage: this tab's session and its numbers, per site
    VID = 'cs_vid', // localStorage and a first-party cookie: the visitor, only with consent
    // Storage can be blocked (sandboxed frames, strict privacy settings), and then even reading
    // window.localStorage throws: a plain object stands in, for this page only.
    ls = {},
    ss = {},
    // Numbers as E.164; anything else in an answer is ignored.
    E164 = /^\+\d{7,15}$/,
    // Country code lengths (ITU E.164): 1 and 7 are one digit, these are two, the rest three.
    CC = /^([17]|2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/,
    // National (trunk) prefixes other than the usual 0.
    TRUNK = { 1: 1, 7: 8, 36: '06', 375: 80 },
    // What may stand between two digits of one number: spaces (any, one run at a time) and up to
    // three of - . ( ) / and the dashes. "8,495,123" or "123 - - - - 45" is not a phone number.
    GAP = '\\s*(?:[-.()/\u2010-\u2013]\\s*){0,3}',
    // Never touched: code, form fields and editors (:read-write is any editable element, inside
    // contenteditable too), structured data, and regions the site marks (local SEO listings must
    // keep the real number). JSON-LD is a script.
    SKIP = 'script,style,textarea,select,noscript,:read-write,[itemprop~=telephone],[data-callsource-noswap]',
    // Inline elements: a number may run across them. Any other element ends a run of text.
    INLINE =
      /^(A|B|BDI|CITE|CODE|EM|FONT|I|LABEL|MARK|NOBR|S|SMALL|SPAN|STRONG|SUB|SUP|TIME|U)$/,
    api,
    sid, // the session, from the server
    vid, // the visitor, from the server; kept only with consent
    list = [], // the numbers shown now
    json, // ... as JSON, to tell when they change
    map = {}, // digits as the page may write them -> [digits to write instead, new E.164 digits]
    re, // finds any key of map in text
    past = {}, // target -> every number this page has shown in its place, the target first
    cbs = [], // callsource('numbers', fn)
    ms = 6e4, // ping period
    timer,
    busy,
    sent, // the consent the last request carried
    obs;

  w.callsource = callsource;
  callsource.cs = 1;
  if (!site) return;
  try {
    ls = w.localStorage || ls;
    ss = w.sessionStorage || ss; // blocked, if at all, along with localStorage
  } catch (e) {}
  api = (cfg.api || new URL(tag.src).origin).replace(/\/+$/, '') + '/t/' + site;

  function callsource(cmd, arg) {
    if (cmd == 'numbers') {
      cbs.push(arg);
      if (json) tell(arg);
    }
    if (cmd == 'consent') agree(!!arg);
  }

  function tell(fn) {
    try {
      fn(JSON.parse(json)); // a copy: a widget cannot change ours
    } catch (e) {} // nor can a broken one break the tracker
  }

  function agree(on) {
    consent = on;
    on ? vid && keep(vid) : keep((vid = 0)); // declined: forget the visitor
    // The server hears of a change at once, and leases a number for this very page view (a call
    // from it must find its visit); if a request is out, as soon as that one answers.
    if (sent != on && sid) send();
  }

  // Only ever ids: none of them needs decoding.
  function cookie(name) {
    try {
      return d.cookie.match('(^|; )' + name + '=([^;]*)')[2];
    } catch (e) {} // no such cookie, or no cookies at all here (a sandboxed frame)
  }

  // The visitor id in localStorage and a first-party cookie (either may be cleared alone); a
  // false value erases both.
  function keep(v) {
    try {
      v ? (ls[VID] = v) : delete ls[VID];
      d.cookie =
        VID + '=' + (v || '') + ';path=/;max-age=' + (v ? 3e7 : 0) +
        (/s:/.test(location.protocol) ? ';Secure' : '');
    } catch (e) {}
  }

  function body() {
    var b = { url: location.href, referrer: d.referrer, consent: (sent = consent) };
    if (consent) {
      b.visitor_id = vid || ls[VID] || cookie(VID);
      b.ga_client_id = (cookie('_ga') || '').split('.').slice(2).join('.'); // GA1.1.X.Y: X.Y
      b.ym_client_id = cookie('_ym_uid');
    }
    // What is unknown is left out, not sent empty.
    return JSON.stringify(b, (k, v) => (v || v === !1 ? v : void 0));
  }

  // One request at a time: the answer to the one out schedules the next.
  function send() {
    if (busy) return;
    try {
      var ac = new AbortController(),
        t = setTimeout(() => ac.abort(), 3e3); // slower than this is down: the page stays as it is
      busy = fetch(api + (sid ? '/sessions/' + sid + '/ping' : '/sessions'), {
        method: 'POST',
        body: body(), // a string goes as text/plain: a "simple" request, no CORS preflight
        signal: ac.signal
      })
        .then(r => (r.ok ? r.json() : r.status))
        .catch(() => 0) // unreachable, aborted, not JSON: all just "no answer"
        .then(r => {
          clearTimeout(t);
          busy = 0;
          try {
            got(r);
          } catch (e) {}
          // Unless got() sent again, or stopped for good; a consent changed meanwhile goes now.
          if (!busy) sent != consent && sid ? send() : schedule();
        });
    } catch (e) {}
  }

  function got(r) {
    if (r === 404 && sid) {
      // The session ended and its number may be someone else's by now: back to the targets, and
      // a new session at once.
      sid = 0;
      delete ss[KEY];
      show(list.map(e => ({ target: e.target, number: e.target, kind: 'target' })));
      send();
    } else if (r.numbers) {
      if ((sid = r.session_id)) {
        vid = r.visitor_id; // none without consent
        if (vid && consent) keep(vid);
        if (r.ping_s > 0) ms = r.ping_s * 1e3;
      } else {
        // Answered, but without a session: the server does not track this visitor (a crawler,
        // to it: r.bot; the targets themselves and ping_s 0). The page keeps its numbers and the
        // tracker stops for good: busy stays set, so nothing is sent again. The callbacks still
        // hear what is shown (nothing in place of the targets: []), so a page waiting for its
        // numbers is not left waiting, and the tag says why: <script data-bot="1">.
        cfg.bot = busy = 1;
      }
      // An answer with no session to keep them by swaps nothing.
      show(sid ? r.numbers : list);
      if (sid) {
        ss[KEY] = JSON.stringify([sid, list]);
        // A site that takes form leads is told where forms.js is (its bytes are its own): a
        // module, so the browser loads and runs it once however often this asks. It finds the
        // session where the line above keeps it.
        r.forms && import(r.forms).catch(() => 0);
      }
    }
    // Anything else (429, 5xx, no answer) is retried at the next period, as if nothing happened.
  }

  // Pings keep the lease while the page is seen; a hidden page lets it go.
  function schedule() {
    clearTimeout(timer);
    if (!d.hidden) timer = setTimeout(send, ms);
  }

  function digits(s) {
    return s.replace(/\D/g, '');
  }

  // How a number may be written, as digits: with the country code, with the trunk prefix, national
  // alone. +74951234567: 74951234567, 84951234567, 4951234567.
  function forms(n) {
    n = digits(n);
    var cc = (CC.exec(n) || [n.slice(0, 3)])[0],
      nsn = n.slice(cc.length);
    return [n, (TRUNK[cc] || 0) + nsn, nsn];
  }

  function show(l) {
    var keys;
    list = l.filter(e => e && E164.test(e.target) && E164.test(e.number));
    map = {};
    list.forEach(e => {
      var to = e.number,
        want = forms(to),
        seen = (past[e.target] = past[e.target] || [e.target]);
      if (seen.indexOf(to) < 0) seen.push(to);
      // Whatever this page showed for the target before (the target itself, an earlier number)
      // becomes the new number, form by form.
      seen.forEach(from => {
        if (from != to) forms(from).forEach((f, i) => (map[f] = [want[i], want[0]]));
      });
    });
    // A number starts after a non-digit and must not run on into another digit. (The order of
    // the keys is free: no form of a real number is another one's first digits.)
    keys = Object.keys(map);
    re = keys.length && RegExp('(^|\\D)(' + keys.map(k => k.split('').join(GAP)).join('|') + ')(?!\\d)', 'g');
    re && swap(d.documentElement, watch());
    // The old JSON is read before the new one is kept: widgets hear of changes only.
    if (json != (json = JSON.stringify(list))) cbs.forEach(tell);
  }

  function swap(el) {
    try {
      if (re && el && !el.closest(SKIP)) {
        var run = [];
        walk(el, run);
        flush(run);
        el.querySelectorAll('a[href]').forEach(a => {
          var m = /^((?:tel|callto):[^\d+]*)([^;,?#]*)(.*)/i.exec(a.getAttribute('href')),
            to = m && map[digits(m[2])];
          if (to && !a.closest(SKIP)) a.setAttribute('href', m[1] + '+' + to[1] + m[3]);
        });
      }
    } catch (e) {}
    // Our own writes come back as mutations: drop them, so a swap never sets off another.
    if (obs) obs.takeRecords();
  }

  function walk(el, run) {
    for (var n = el.firstChild, inline, skip; n; n = n.nextSibling) {
      if (n.nodeType == 3) run.push(n);
      else if (n.nodeType == 1) {
        inline = INLINE.test(n.tagName);
        skip = n.matches(SKIP);
        if (!inline || skip) flush(run);
        skip || walk(n, run);
        if (!inline) flush(run);
      }
    }
  }

  // A run of text nodes reads as one string, so "<b>+7 (495)</b> 123-45-67" is one number. It is
  // rewritten digit by digit, in place: the page's own separators, prefix and markup stay, and so
  // do its nodes, their listeners and any framework's reference to them.
  function flush(run) {
    var text = run.map(n => n.data).join(''),
      out,
      m,
      at = 0;
    while ((m = re.exec(text))) {
      var key = digits(m[2]),
        to = map[key][0],
        k = 0,
        i = re.lastIndex - m[2].length;
      out = out || text.split('');
      // A new number of another length gets its extra digits (or loses them) at the last digit.
      for (; i < re.lastIndex; i++)
        if (/\d/.test(text[i])) out[i] = ++k < key.length ? to.charAt(k - 1) : to.slice(k - 1);
    }
    if (out)
      run.forEach(n => {
        var v = out.slice(at, (at += n.length)).join('');
        if (v != n.data) n.data = v;
      });
    run.length = 0;
  }

  // Content that arrives or changes later (single-page routes, popups, AJAX, re-renders): only what
  // changed is looked at, from the nearest element that is not inline (a change may complete a
  // number begun beside it), and only the outermost of those.
  function watch() {
    if (obs) return;
    obs = new MutationObserver(recs => {
      var roots = [];
      recs.forEach(r =>
        (r.type == 'childList' ? r.addedNodes : [r.target]).forEach(n => {
          while (n && (n.nodeType != 1 || INLINE.test(n.tagName))) n = n.parentNode;
          if (n && roots.indexOf(n) < 0) roots.push(n);
        })
      );
      roots.forEach(n => roots.some(o => o != n && o.contains(n)) || swap(n));
    });
    obs.observe(d, { childList: 1, subtree: 1, characterData: 1, attributeFilter: ['href'] });
  }

  ((me && me.q) || []).forEach(a => callsource.apply(0, a));

  // The tab's last answer for this site swaps at once (even as the parser adds the body), before
  // the ping confirms it.
  try {
    var c = JSON.parse(ss[KEY]);
    sid = c[0];
    show(c[1]);
  } catch (e) {}

  d.addEventListener('DOMContentLoaded', () => swap(d.documentElement));
  d.addEventListener('visibilitychange', () => (d.hidden ? clearTimeout(timer) : send()));
  send();
})(window, document);
