"""What static/tracker.js sends to the Tracker API and how it copes with the answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Route

from tests.tracker.conftest import (
    HOLD,
    NUMBERS,
    RU_TARGET,
    SESSION_ID,
    SITE,
    VISITOR_ID,
    ApiCall,
    Reply,
    Tab,
    session_response,
)

SWAPPED = "+7 (495) 987-65-43"
ORIGINAL = "+7 (495) 123-45-67"

HIDE = """() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
  document.dispatchEvent(new Event('visibilitychange'));
}"""
SHOW = """() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def stored(tab: Tab) -> dict[str, Any]:
    found: dict[str, Any] = tab.page.evaluate(
        """() => ({
          local: localStorage.getItem('cs_vid'),
          cookie: document.cookie.split('; ').filter(c => c.startsWith('cs_vid=')),
          sid: (JSON.parse(sessionStorage.getItem('cs:pk_test')) || [null])[0],
        })"""
    )
    return found


def test_session_request_is_plain_text_json_with_page_context(tab: Tab) -> None:
    tab.open("basic.html", query="?utm_source=ads&gclid=abc", referer="https://www.google.com/")

    assert [c.method for c in tab.api.calls] == ["POST"]  # no CORS preflight
    call = tab.api.sessions[0]
    assert call.url == f"{tab.base}/t/{SITE}/sessions"
    assert call.content_type.split(";")[0] == "text/plain"
    assert call.body == {
        "url": f"{tab.base}/pages/basic.html?utm_source=ads&gclid=abc",
        "referrer": "https://www.google.com/",
        "consent": True,
    }
    assert tab.text("#phone") == SWAPPED
    assert tab.text("#us") == "(555) 987-6543"
    assert stored(tab) == {
        "local": VISITOR_ID,
        "cookie": [f"cs_vid={VISITOR_ID}"],
        "sid": SESSION_ID,
    }
    tab.assert_quiet()


def test_analytics_client_ids_come_from_their_cookies(tab: Tab) -> None:
    tab.context.add_cookies(
        [
            {"name": "_ga", "value": "GA1.1.1234567890.1700000000", "url": tab.base},
            {"name": "_ym_uid", "value": "1700000000123456789", "url": tab.base},
        ]
    )
    tab.open("basic.html")

    body = tab.api.sessions[0].body
    assert body["ga_client_id"] == "1234567890.1700000000"
    assert body["ym_client_id"] == "1700000000123456789"


def test_a_returning_visitor_sends_the_stored_visitor_id(tab: Tab) -> None:
    tab.open("basic.html")
    assert "visitor_id" not in tab.api.sessions[0].body

    # A new tab: new sessionStorage, same localStorage and cookies.
    tab.page = tab.context.new_page()
    tab.open("basic.html")

    assert len(tab.api.sessions) == 2
    assert tab.api.sessions[1].body["visitor_id"] == VISITOR_ID


def test_an_api_on_another_origin_is_called_without_preflight(tab: Tab) -> None:
    tab.api.cors = True
    tab.open("api.html")

    assert [(c.method, c.url) for c in tab.api.calls] == [
        ("POST", f"http://api.callsource.test:8080/t/{SITE}/sessions")
    ]
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_the_next_page_view_pings_and_swaps_from_the_tab_cache(tab: Tab) -> None:
    tab.open("basic.html")
    tab.page.click("#next")
    tab.page.wait_for_url("**/basic.html?page=2")
    tab.settle()

    assert [c.path for c in tab.api.calls] == ["/sessions", f"/sessions/{SESSION_ID}/ping"]
    ping = tab.api.pings[0]
    assert ping.content_type.split(";")[0] == "text/plain"
    assert ping.body == {
        "url": f"{tab.base}/pages/basic.html?page=2",
        "referrer": f"{tab.base}/pages/basic.html",
        "consent": True,
        "visitor_id": VISITOR_ID,
    }
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_cached_numbers_show_even_when_the_ping_fails(tab: Tab) -> None:
    tab.open("basic.html")
    tab.api.on_ping = lambda call: (503, "busy")
    tab.open("basic.html")

    assert len(tab.api.pings) == 1
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_cached_numbers_belong_to_their_site(tab: Tab) -> None:
    tab.open("basic.html")
    seen: list[str] = []

    def other(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=500, body="")

    tab.context.route("**/t/pk_other/**", other)
    tab.open("other-site.html")

    assert seen == [f"{tab.base}/t/pk_other/sessions"]
    assert tab.text("#phone") == ORIGINAL
    tab.assert_quiet()


def test_a_404_ping_starts_a_new_session(tab: Tab) -> None:
    tab.open("basic.html")
    tab.api.on_ping = lambda call: (404, {"detail": "Session not found"})
    tab.api.on_session = lambda call: (
        200,
        session_response(
            session_id="s_2",
            numbers=[{"target": RU_TARGET, "number": "+74950001122", "kind": "dynamic"}],
        ),
    )
    tab.open("basic.html")
    tab.settle(2)

    assert [c.path for c in tab.api.calls] == [
        "/sessions",
        f"/sessions/{SESSION_ID}/ping",
        "/sessions",
    ]
    assert tab.api.sessions[1].body["visitor_id"] == VISITOR_ID
    tab.wait_text("#phone", "+7 (495) 000-11-22")
    assert stored(tab)["sid"] == "s_2"
    tab.assert_quiet()


def test_an_ended_session_never_keeps_showing_its_number(tab: Tab) -> None:
    tab.open("basic.html")
    tab.api.on_ping = lambda call: (404, {"detail": "Session not found"})
    tab.api.on_session = lambda call: (500, "down")
    tab.open("basic.html")
    tab.settle(2)

    # The cached number went with the lease; the page falls back to its own number.
    assert tab.text("#phone") == ORIGINAL
    assert tab.text("#us") == "(555) 123-4567"
    assert stored(tab)["sid"] is None
    tab.assert_quiet()


FAILURES: dict[str, Callable[[ApiCall], Reply]] = {
    "429": lambda call: (429, {"detail": "Too many requests"}),
    "500": lambda call: (500, "Internal Server Error"),
    "network": lambda call: None,
    "bad-json": lambda call: (200, "{not json"),
    "json-array": lambda call: (200, "[1, 2]"),
    "no-session": lambda call: (200, {"numbers": NUMBERS}),
    "bad-numbers": lambda call: (200, {"session_id": "s", "numbers": "+74959876543"}),
    "bad-entries": lambda call: (
        200,
        {
            "session_id": "s",
            "ping_s": 60,
            "numbers": [
                {"target": RU_TARGET},
                {"target": RU_TARGET, "number": "<b>1</b>", "kind": "dynamic"},
                {"target": "8 495 123-45-67", "number": "+74959876543", "kind": "dynamic"},
                None,
                "+74959876543",
            ],
        },
    ),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_failures_leave_the_page_as_it_was(tab: Tab, failure: str) -> None:
    tab.api.on_session = FAILURES[failure]
    tab.open("basic.html")

    assert len(tab.api.sessions) == 1
    assert tab.text("#phone") == ORIGINAL
    assert tab.text("#us") == "(555) 123-4567"
    tab.assert_quiet()


def test_a_slow_api_is_given_up_at_3_seconds_and_tried_again_later(tab: Tab) -> None:
    tab.api.on_session = lambda call: HOLD
    tab.page.clock.install()
    # Frozen from here on: only run_for() moves the page's time.
    tab.page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    tab.page.goto(f"{tab.base}/pages/basic.html")
    tab.page.wait_for_function("window.__requests.length === 1")
    while not tab.api.held:  # until the request has reached the fake
        tab.page.evaluate("0")

    tab.page.clock.run_for(2_999)
    assert tab.request_statuses() == [None]  # still waiting
    assert tab.text("#phone") == ORIGINAL
    tab.page.clock.run_for(1)
    tab.settle()
    assert tab.request_statuses() == [0]  # given up
    assert tab.text("#phone") == ORIGINAL

    # The answer, when it comes at last, finds nobody listening.
    tab.api.held.pop().fulfill(status=200, body=json.dumps(session_response()))
    tab.page.clock.run_for(1_000)
    assert tab.text("#phone") == ORIGINAL
    assert len(tab.request_urls()) == 1

    # The next period tries again; a prompt answer swaps.
    tab.api.on_session = lambda call: (200, session_response())
    tab.page.clock.run_for(60_000)
    tab.settle(2)
    assert len(tab.api.sessions) == 2
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_an_answer_without_a_session_leaves_the_page_and_stops(tab: Tab) -> None:
    # What the app answers a crawler: the targets themselves, no session, no pings.
    targets = [{"target": n["target"], "number": n["target"], "kind": "target"} for n in NUMBERS]
    untracked = {
        "session_id": None,
        "visitor_id": None,
        "numbers": targets,
        "ping_s": 0,
        "bot": True,
    }
    tab.api.on_session = lambda call: (200, untracked)
    tab.page.clock.install()
    tab.open("queue.html")

    tab.page.clock.run_for(10 * 60_000)
    tab.page.evaluate(HIDE)
    tab.page.evaluate(SHOW)
    tab.page.evaluate("callsource('consent', true)")
    tab.page.clock.run_for(10 * 60_000)

    assert len(tab.request_urls()) == 1
    assert [c.path for c in tab.api.calls] == ["/sessions"]
    assert tab.text("#phone") == ORIGINAL
    assert stored(tab) == {"local": None, "cookie": [], "sid": None}
    # The page is not left waiting: its callback heard that nothing replaces the targets, and
    # the tag says why.
    assert tab.page.evaluate("window.seen") == [[]]
    assert tab.page.get_attribute("script[data-site]", "data-bot") == "1"
    tab.assert_quiet()


def test_two_copies_of_the_snippet_run_once(tab: Tab) -> None:
    tab.open("twice.html")
    tab.page.wait_for_load_state("load")

    assert len(tab.request_urls()) == 1
    assert len(tab.api.calls) == 1
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_the_preload_queue_and_the_numbers_callback(tab: Tab) -> None:
    tab.open("queue.html")

    # queued before the snippet loaded: called once the numbers are known
    assert tab.page.evaluate("window.seen") == [NUMBERS]
    # asked after: called at once
    late = tab.page.evaluate(
        "() => { let got; callsource('numbers', n => { got = n; }); return got; }"
    )
    assert late == NUMBERS
    # the same answer again does not call back again; a different one does
    tab.page.evaluate("() => { window.seen = []; }")
    tab.page.evaluate(HIDE)
    tab.page.evaluate(SHOW)
    tab.settle(2)
    assert tab.page.evaluate("window.seen") == []
    changed = [{"target": RU_TARGET, "number": "+74950001122", "kind": "dynamic"}]
    tab.api.on_ping = lambda call: (200, session_response(numbers=changed))
    tab.page.evaluate(HIDE)
    tab.page.evaluate(SHOW)
    tab.settle(3)
    assert tab.page.evaluate("window.seen") == [changed]
    assert tab.text("#phone") == "+7 (495) 000-11-22"
    tab.assert_quiet()


def test_consent_required_keeps_the_visitor_anonymous_until_given(tab: Tab) -> None:
    tab.context.add_cookies(
        [
            {"name": "_ga", "value": "GA1.1.42.1700000000", "url": tab.base},
            {"name": "_ym_uid", "value": "99", "url": tab.base},
            # left by an earlier visit: not read without consent either
            {"name": "cs_vid", "value": "v_old", "url": tab.base},
        ]
    )
    tab.open("consent.html")

    assert tab.api.sessions[0].body == {
        "url": f"{tab.base}/pages/consent.html",
        "consent": False,
    }
    assert tab.text("#phone") == SWAPPED  # numbers still swap, the visitor is just not remembered
    assert stored(tab)["local"] is None
    assert stored(tab)["cookie"] == ["cs_vid=v_old"]

    tab.page.evaluate("callsource('consent', true)")
    tab.settle(2)
    assert tab.api.pings[0].body == {
        "url": f"{tab.base}/pages/consent.html",
        "consent": True,
        "visitor_id": VISITOR_ID,
        "ga_client_id": "42.1700000000",
        "ym_client_id": "99",
    }
    assert stored(tab)["local"] == VISITOR_ID
    assert stored(tab)["cookie"] == [f"cs_vid={VISITOR_ID}"]

    tab.page.evaluate("callsource('consent', false)")
    tab.settle(3)
    assert tab.api.pings[1].body == {
        "url": f"{tab.base}/pages/consent.html",
        "consent": False,
    }
    assert stored(tab)["local"] is None
    assert stored(tab)["cookie"] == []
    tab.assert_quiet()


def test_consent_given_while_the_first_request_is_out_is_sent_as_soon_as_it_answers(
    tab: Tab,
) -> None:
    # Issue 13: the consent waited for the next ping (a minute later, or the next page view),
    # so a call from the landing page found no tracking number to match.
    targets = [{"target": n["target"], "number": n["target"], "kind": "target"} for n in NUMBERS]
    tab.api.on_session = lambda call: HOLD
    tab.page.clock.install()
    tab.page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))  # no ping period passes
    tab.page.goto(f"{tab.base}/pages/consent.html")
    tab.page.wait_for_function("window.__requests.length === 1")
    while not tab.api.held:
        tab.page.evaluate("0")

    tab.page.evaluate("callsource('consent', true)")
    assert len(tab.request_urls()) == 1  # one request at a time
    tab.api.held.pop().fulfill(
        status=200, body=json.dumps(session_response(visitor_id="", numbers=targets))
    )
    tab.page.clock.run_for(1)  # lets the answer's handlers run, far short of a ping period
    tab.settle(2)

    assert tab.api.sessions[0].body["consent"] is False
    assert [c.body["consent"] for c in tab.api.pings] == [True]
    tab.wait_text("#phone", SWAPPED)  # the same page view
    tab.page.clock.run_for(30_000)
    assert len(tab.api.pings) == 1  # and no extra ping for it
    tab.assert_quiet()


def test_consent_given_before_the_snippet_loads_applies_to_the_first_request(tab: Tab) -> None:
    tab.open("consent-queued.html")

    assert tab.api.sessions[0].body["consent"] is True
    assert stored(tab)["local"] == VISITOR_ID


def test_pings_every_ping_s_while_visible_and_at_once_when_shown_again(tab: Tab) -> None:
    tab.api.on_session = lambda call: (200, session_response(ping_s=30))
    tab.api.on_ping = lambda call: (200, session_response(ping_s=30))
    tab.page.clock.install()
    tab.open("basic.html")

    tab.page.clock.run_for(30_000)
    tab.settle(2)
    tab.page.clock.run_for(30_000)
    tab.settle(3)
    assert [c.path for c in tab.api.calls] == ["/sessions"] + [f"/sessions/{SESSION_ID}/ping"] * 2

    tab.page.evaluate(HIDE)
    tab.page.clock.run_for(600_000)
    assert len(tab.request_urls()) == 3  # nothing while hidden

    tab.page.evaluate(SHOW)
    assert len(tab.request_urls()) == 4  # at once, not after the next period
    tab.settle(4)
    assert len(tab.api.pings) == 3
    tab.assert_quiet()


def test_a_failed_ping_is_retried_at_the_next_period(tab: Tab) -> None:
    replies: list[Reply] = [(500, "down"), None, (200, session_response())]
    tab.api.on_ping = lambda call: replies.pop(0)
    tab.page.clock.install()
    tab.open("basic.html")

    for n in (2, 3, 4):
        tab.page.clock.run_for(60_000)
        tab.settle(n)

    assert len(tab.api.pings) == 3
    assert tab.text("#phone") == SWAPPED
    tab.assert_quiet()


def test_a_page_opened_in_the_background_waits_to_be_seen(tab: Tab) -> None:
    def hidden_when_answered(call: ApiCall) -> Reply:
        tab.page.evaluate(HIDE)
        return (200, session_response())

    tab.api.on_session = hidden_when_answered
    tab.page.clock.install()
    tab.open("basic.html")
    assert tab.text("#phone") == SWAPPED

    tab.page.clock.run_for(600_000)
    assert len(tab.request_urls()) == 1

    tab.page.evaluate(SHOW)
    tab.settle(2)
    assert [c.path for c in tab.api.calls] == ["/sessions", f"/sessions/{SESSION_ID}/ping"]
    tab.assert_quiet()


def test_blocked_storage_still_swaps_quietly(tab: Tab) -> None:
    # What a sandboxed iframe or a browser blocking site data does: touching storage throws.
    tab.context.add_init_script(
        """for (const name of ['localStorage', 'sessionStorage']) {
          Object.defineProperty(window, name, {
            get() { throw new DOMException('The operation is insecure.', 'SecurityError'); },
          });
        }"""
    )
    tab.open("basic.html")

    assert tab.text("#phone") == SWAPPED
    assert tab.api.sessions[0].body["consent"] is True
    tab.assert_quiet()
