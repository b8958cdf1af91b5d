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
    var shown = list[0];
    if (!shown) return;
    var input = d.getElementById('called');
    var label = d.getElementById('shown-kind');
    if (input) input.value = shown.number;
    // The words for each kind come translated from the page (data-dynamic, data-source...).
    if (label) label.textContent = label.getAttribute('data-' + shown.kind) || shown.kind;
    d.documentElement.setAttribute('data-shown-number', shown.number);
  });
})(window, document);
