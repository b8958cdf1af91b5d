/* Copy buttons: <button data-copy="element-id" data-done="Copied"> copies that element's text.
 * Same-origin, as the CSP wants; the text stays selectable for browsers without the clipboard API. */
(function (d) {
  d.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy]');
    if (!button) return;
    var source = d.getElementById(button.getAttribute('data-copy'));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.setAttribute('data-copied', 'true');
      button.textContent = button.getAttribute('data-done') || '✓';
    }, function () {});
  });
})(document);
