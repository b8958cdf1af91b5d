/* The demo shop's own script. Loaded before the snippet, synchronously, so that:
 * 1. a visit "from a search engine" (/demo/from/google redirects here with the would-be
 *    referrer in the fragment) shows the snippet that referrer, as a real click would;
 * 2. the "place a test call" form dials the number the snippet is showing right now. */
(function (w, d) {
  var m = /[#&]cs-demo-referrer=([^&]*)/.exec(location.hash);
  if (m) {
    var ref = decodeURIComponent(m[1]);
    try {
      Object.defineProperty(d, 'referrer', { get: function () { return ref; }, configurable: true });
    } catch (e) {}
    history.replaceState(null, '', location.pathname + location.search);
  }
  // The snippet's usual stub: commands wait in a queue until it has loaded.
  w.callsource = w.callsource || function () { (w.callsource.q = w.callsource.q || []).push(arguments); };
  w.callsource('numbers', function (list) {
    // The snippet marks its tag when the server took this browser for a crawler; it then
    // hears no numbers at all, and the page keeps its own.
    var bot = d.querySelector('script[data-bot]');
    var input = d.getElementById('called');
    var shown = list[0] || (bot && input && { number: input.value });
    if (!shown) return;
    var label = d.getElementById('shown-kind');
    var note = d.querySelector('[data-testid=bot-note]');
    if (input) input.value = shown.number;
    // The words come translated from the page (data-dynamic, data-source..., data-bot).
    if (label) {
      label.textContent = bot
        ? label.getAttribute('data-bot') || 'crawler: no tracking number'
        : label.getAttribute('data-' + shown.kind) || shown.kind;
    }
    if (bot && note) note.hidden = false;
    d.documentElement.setAttribute('data-tracker', bot ? 'bot' : 'tracked');
    d.documentElement.setAttribute('data-shown-number', shown.number);
  });
})(window, document);
