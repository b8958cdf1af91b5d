"""Number swapping by static/tracker.js in real Chromium: written forms, split numbers, links,
no-swap regions, content that arrives or changes after load."""

from __future__ import annotations

from tests.tracker.conftest import Tab


def texts(tab: Tab, selector: str = "li[id], p[id]") -> dict[str, str]:
    found: dict[str, str] = tab.page.evaluate(
        "s => Object.fromEntries([...document.querySelectorAll(s)]"
        ".map(e => [e.id, e.textContent]))",
        selector,
    )
    return found


def test_every_written_form_is_swapped_digit_by_digit(tab: Tab) -> None:
    tab.open("formats.html")

    assert texts(tab) == {
        # +74951234567 -> +74959876543, in the page's own spelling and prefix
        "ru1": "+7 (495) 987-65-43",
        "ru2": "8 495 987-65-43",
        "ru3": "84959876543",
        "ru4": "+7-495-987-65-43",
        "ru5": "8 (495) 987 65 43",
        "ru6": "+7\u00a0495\u00a0987\u201365\u201343",
        "ru7": "495/987-65-43",
        "ru8": "+74959876543",
        "ru9": "+7 495\n        987 65 43",
        # +15551234567 -> +15559876543
        "us1": "(555) 987-6543",
        "us2": "555.987.6543",
        "us3": "+1 555 987 6543",
        "us4": "1-555-987-6543",
        "us5": "+1 (555) 987-6543",
        "us6": "5559876543",
        "sentence": "Call 8 (495) 987-65-43 today, or from the US: (555) 987-6543. Open 9-18.",
        "pair": "8 495 987-65-43, 8 495 987-65-43 8 495 987-65-43",
        "hours": "8 (495) 987-65-43 10:00-20:00",
        # kind "target": the server says keep it
        "kept": "Sales: +7 (495) 765-43-21",
        # not the target: part of a longer digit run, another number, separators run too long
        "longer": "Order 84951234567890",
        "prefixed": "Invoice 184951234567",
        "other": "+7 (495) 123-45-68",
        "commas": "8,495,123,45,67",
        "wide": "8 495 123 - - - - 45 67",
    }
    assert tab.text("h1") == "Contact us"
    tab.assert_quiet()


def test_numbers_split_across_inline_elements(tab: Tab) -> None:
    tab.open("split.html")

    assert texts(tab) == {
        "bold": "+7 (495) 987-65-43",
        "spans": "+74959876543",
        "spaced": "+7 (495) 987-65-43",
        "us": "1\u00a0(555)\u00a0987-6543",
        "deep": "8 (495) 987-65-43 ext. 12",
        # a block boundary or a line break ends a number
        "broken": "8 495123-45-67",
    }
    assert tab.text("#blocks") == "8 495123-45-67"
    assert tab.text("#after-block") == "8 495123-45-67"
    # the markup around the digits is kept
    assert tab.page.inner_html("#bold") == "<b>+7 (495)</b> 987-65-43"
    assert tab.page.inner_html("#spans") == (
        "<span>+7</span><span>495</span><span>987</span><span>65</span><span>43</span>"
    )
    tab.assert_quiet()


def test_tel_and_callto_links_get_the_new_number(tab: Tab) -> None:
    tab.open("links.html")

    links: dict[str, list[str]] = tab.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('a')]"
        ".map(a => [a.id, [a.getAttribute('href'), a.textContent]]))"
    )
    assert links == {
        "tel1": ["tel:+74959876543", "+7 (495) 987-65-43"],
        "tel2": ["tel:+74959876543", "Call us"],
        "tel3": ["TEL:+74959876543", "8 (495) 987-65-43"],
        "tel4": ["tel:+15559876543;ext=12", "(555) 987-6543 ext. 12"],
        "callto": ["callto://+15559876543", "Skype us"],
        "other": ["tel:+74951112233", "+7 (495) 111-22-33"],
        # only tel:/callto: hrefs change; visible text is swapped wherever it is
        "web": ["https://example.com/84951234567", "example.com/84959876543"],
    }
    tab.assert_quiet()


def test_swapping_keeps_nodes_and_their_listeners(tab: Tab) -> None:
    tab.open("links.html")

    assert tab.text("#clicktarget") == "+7 (495) 987-65-43"
    # the same text node was edited in place, not replaced
    assert tab.page.evaluate(
        "window.keptNode === document.getElementById('clicktarget').firstChild"
    )
    tab.page.click("#clicktarget")
    assert tab.page.evaluate("window.clicks") == 1


def test_structured_data_forms_editors_and_noswap_regions_are_untouched(tab: Tab) -> None:
    original = "+7 (495) 123-45-67"
    tab.open("noswap.html")

    assert tab.text("#control") == "+7 (495) 987-65-43"
    assert tab.text("#after") == "8 495 987-65-43"
    for selector in (
        "#css",
        "#jsonld",
        "#code",
        "#itemprop",
        "#noswap-child b",
        "#textarea",
        "#option",
        "#editable-child",
        "#noscript",
    ):
        assert original in tab.text(selector), selector
        assert "987" not in tab.text(selector), selector
    assert tab.text("#itemprop") == original
    assert original in tab.text("#jsonld")
    assert tab.page.evaluate("window.phoneInCode") == original
    assert tab.text("#itemprop-child") == "8 495 123-45-67"
    assert tab.text("#itemprop-link") == "8 495 123-45-67"
    assert tab.attr("#itemprop-link", "href") == "tel:+74951234567"
    assert tab.attr("#noswap-link", "href") == "tel:+74951234567"
    assert tab.page.input_value("#input") == original
    assert tab.attr("#input", "value") == original
    assert tab.page.evaluate("document.getElementById('textarea').value") == original
    template: str = tab.page.evaluate("document.getElementById('template').content.textContent")
    assert original in template
    tab.assert_quiet()


def test_content_added_after_load_is_swapped(tab: Tab) -> None:
    tab.open("spa.html")
    tab.wait_text("#hero", "Call +7 (495) 987-65-43")

    # A route change, an AJAX fragment, a popup, a changed text node and a changed link.
    tab.page.evaluate(
        """() => {
          const app = document.getElementById('app');
          app.innerHTML = '<section id="route"><h2>Contacts</h2>'
            + '<p id="p1">8 495 123-45-67</p></section>';
          const popup = document.createElement('div');
          popup.id = 'popup';
          popup.innerHTML = '<div class="modal"><span id="p2"><b>+1</b> (555) 123-4567</span>'
            + '<a id="p3" href="tel:+15551234567">call</a></div>';
          document.body.appendChild(popup);
          const hero = document.createElement('p');
          hero.id = 'p4';
          hero.textContent = 'Nothing yet';
          document.body.appendChild(hero);
          setTimeout(() => { hero.firstChild.data = 'Later: +7 495 123 45 67'; }, 50);
          setTimeout(() => {
            const link = document.querySelector('#p3');
            link.setAttribute('href', 'tel:84951234567');
          }, 100);
          // a number completed by a later inline sibling
          const half = document.createElement('p');
          half.id = 'p5';
          half.textContent = '+7 (495) ';
          document.body.appendChild(half);
          setTimeout(() => {
            const tail = document.createElement('b');
            tail.textContent = '123-45-67';
            half.appendChild(tail);
          }, 150);
        }"""
    )
    tab.wait_text("#p4", "Later: +7 495 987 65 43")
    tab.page.wait_for_function(
        "document.querySelector('#p3').getAttribute('href') !== 'tel:+15559876543'"
    )
    tab.wait_text("#p5", "+7 (495) 987-65-43")

    assert tab.text("#p1") == "8 495 987-65-43"
    assert tab.text("#p2") == "+1 (555) 987-6543"
    assert tab.attr("#p3", "href") == "tel:+74959876543"
    tab.assert_quiet()


def test_a_framework_rerendering_the_target_ends_swapped(tab: Tab) -> None:
    tab.open("spa.html")
    tab.wait_text("#rerender", "Phone: 8 (495) 987-65-43")

    tab.page.evaluate("window.startRerender()")
    tab.page.wait_for_function("window.renders >= 5")
    # the observer runs before the next frame is painted
    tab.page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )

    assert tab.text("#rerender") == "Phone: 8 (495) 987-65-43"
    tab.assert_quiet()


def test_the_snippet_never_reacts_to_its_own_writes(tab: Tab) -> None:
    tab.open("spa.html")
    tab.wait_text("#hero", "Call +7 (495) 987-65-43")
    tab.page.evaluate(
        """() => {
          window.writes = 0;
          new MutationObserver(records => { window.writes += records.length; }).observe(
            document, { subtree: true, characterData: true, childList: true, attributes: true });
          const p = document.createElement('p');
          p.id = 'added';
          p.textContent = '+7 (495) 123-45-67';
          document.body.appendChild(p);
        }"""
    )
    tab.wait_text("#added", "+7 (495) 987-65-43")
    # a few frames later: one append and one in-place edit, nothing more
    tab.page.evaluate(
        "() => new Promise(r => { let n = 0; const f = () => ++n > 5 ? r() : "
        "requestAnimationFrame(f); f(); })"
    )
    assert tab.page.evaluate("window.writes") == 2


def test_numbers_known_before_the_body_is_parsed_swap_as_it_arrives(tab: Tab) -> None:
    # Second view in the tab: the cached numbers apply while the parser is still adding the body.
    tab.open("split.html")
    tab.api.on_ping = lambda call: (500, "down")
    tab.open("split.html")

    assert tab.text("#bold") == "+7 (495) 987-65-43"
    assert tab.api.pings
    tab.assert_quiet()


def test_only_what_changed_is_looked_at(tab: Tab) -> None:
    tab.open("spa.html")
    tab.wait_text("#hero", "Call +7 (495) 987-65-43")

    # Every swap ends with a look for links under its root: record the roots.
    tab.page.evaluate(
        """() => {
          window.roots = [];
          const find = Element.prototype.querySelectorAll;
          Element.prototype.querySelectorAll = function (selector) {
            window.roots.push(this.id || this.tagName);
            return find.call(this, selector);
          };
          const popup = document.createElement('div');
          popup.id = 'popup';
          popup.innerHTML = '<div class="modal"><p id="p1">Call <b>8 495 123-45-67</b></p></div>';
          document.body.appendChild(popup);
          // text added inside a paragraph: that paragraph, not its parents, is looked at again
          document.getElementById('hero').appendChild(document.createTextNode(' now'));
        }"""
    )
    tab.wait_text("#p1", "Call 8 495 987-65-43")
    tab.wait_text("#hero", "Call +7 (495) 987-65-43 now")

    assert sorted(tab.page.evaluate("window.roots")) == ["hero", "popup"]
    tab.assert_quiet()
