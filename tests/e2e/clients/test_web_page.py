"""The browser page (clients/web) served by `make dev`, in headless Debian Chromium.

Playwright drives the system browser (browser downloads are impossible here); `make
browser` installs Debian's chromium. Without it these tests are skipped -- except under
CI=true, where a missing browser is a broken setup and fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chalicelib.presence import Presence
from infra.dev.web import page_url
from tests.e2e.support import Stack, new_user

CHROMIUM = Path(os.environ.get("IM_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"no browser at {CHROMIUM}: `make browser` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser: Browser, stack: Stack, user: int, **timing: int) -> Page:
    context = browser.new_context()
    if timing:  # the page reads overrides of its timers from sessionStorage
        script = f"sessionStorage.setItem('im.timing', '{json.dumps(timing)}')"
        context.add_init_script(script)
    page = context.new_page()
    page.goto(page_url(stack.rest_url))
    page.fill("#user-id", str(user))
    page.click("#login button")
    expect(page.locator("#status")).to_have_attribute("data-status", "connected")
    return page


def say(page: Page, to: int, text: str) -> None:
    page.fill("#peer", str(to))
    page.fill("#text", text)
    page.press("#text", "Enter")


def entries(page: Page, text: str) -> list[str]:
    return [t for t in page.locator("#transcript li").all_inner_texts() if text in t]


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#transcript li[data-id]", "items => items.map(item => item.dataset.id)"
    )
    return ids


def test_two_pages_chat_and_a_reload_shows_nothing_twice(
    local_stack: Stack, browser: Browser
) -> None:
    stack = local_stack
    # B's id is past 2^53, where JavaScript numbers would round it: ids must stay exact.
    a, b = new_user(), 2**63 - new_user()
    with stack.chat(a) as chat_a:
        assert chat_a.send(b, "sent before you came")["type"] == "ack"

    page_a, page_b = sign_in(browser, stack, a), sign_in(browser, stack, b)
    try:
        # Unread on load, then marked read.
        expect(page_b.locator("#transcript li.in")).to_contain_text(["sent before you came"])
        assert stack.all_unread(b) == []

        say(page_a, b, "hello <b>B</b>")
        expect(page_b.locator("#transcript li.in").last).to_contain_text(
            f"{a} → you: hello <b>B</b>"
        )
        expect(page_a.locator("#transcript li.out").last).to_contain_text("hello <b>B</b> ✓")
        say(page_b, a, "hi A")
        expect(page_a.locator("#transcript li.in").last).to_contain_text(f"{b} → you: hi A")
        assert page_b.locator("#transcript b").count() == 0  # content is text, never markup

        page_b.reload()
        expect(page_b.locator("#status")).to_have_attribute("data-status", "connected")
        say(page_a, b, "after the reload")
        expect(page_b.locator("#transcript li.in").last).to_contain_text("after the reload")

        ids = shown_ids(page_b)
        assert len(ids) == len(set(ids)) == 4, page_b.locator("#transcript").inner_text()
        for text in ("sent before you came", "hello <b>B</b>", "hi A", "after the reload"):
            assert len(entries(page_b, text)) == 1
        assert stack.all_unread(b) == [] and stack.all_unread(a) == []
    finally:
        page_a.context.close()
        page_b.context.close()


def test_page_protocol_helpers_in_the_browser(local_stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()
    try:
        page.goto(page_url(local_stack.rest_url))
        result = page.evaluate(
            """async () => {
                const m = await import("./chat.js");
                const backoff = new m.Backoff(1000, 8000, () => 0);
                const seen = new m.SeenIds(2);
                return {
                    delays: [1, 2, 3, 4, 5].map(() => backoff.next()),
                    parsed: m.parseJson('{"from": 9223372036854775807, "n": 5}'),
                    ids: ["9223372036854775807", "9223372036854775808", "0", "1.5"].map(m.isUserId),
                    frame: JSON.parse(m.sendFrame({to: "42", content: 'a"b', ackId: "k"})),
                    seen: [
                        seen.add("a"), seen.add("a"), seen.add("b"), seen.add("c"), seen.has("a"),
                    ],
                    ackIds: new Set([m.newAckId(), m.newAckId()]).size,
                };
            }"""
        )
        assert result == {
            "delays": [500, 1000, 2000, 4000, 4000],
            "parsed": {"from": "9223372036854775807", "n": 5},
            "ids": [True, False, False, False],
            "frame": {"action": "send", "to": 42, "content": 'a"b', "ack_id": "k"},
            "seen": [True, False, True, True, False],
            "ackIds": 2,
        }
    finally:
        page.context.close()


def test_page_reconnects_after_a_drop_and_catches_up(local_stack: Stack, browser: Browser) -> None:
    stack = local_stack
    a, b = new_user(), new_user()
    before = stack.connection_ids()
    # A first retry 1-2 s after the drop: time enough to send while it is away.
    page = sign_in(browser, stack, b, backoffBaseMs=2000, backoffCapMs=4000)
    try:
        (connection_id,) = stack.connection_ids() - before
        stack.drop(connection_id)
        expect(page.locator("#status")).to_have_attribute("data-status", "reconnecting…")
        with stack.chat(a) as chat_a:
            assert chat_a.send(b, "while the page was away")["type"] == "ack"
        expect(page.locator("#status")).to_have_attribute("data-status", "connected")
        expect(page.locator("#transcript li.in")).to_contain_text(["while the page was away"])
        lines = page.locator("#transcript li").all_inner_texts()
        assert len(entries(page, "while the page was away")) == 1
        # Caught up through unread, which is drawn before "connected again".
        away = next(i for i, line in enumerate(lines) if "while the page was away" in line)
        assert away < lines.index("— connected again")
    finally:
        page.context.close()


def test_page_finds_what_the_server_could_not_push(local_stack: Stack, browser: Browser) -> None:
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()
    before = stack.connection_ids()
    page = sign_in(browser, stack, b, pingIntervalMs=300)
    try:
        (connection_id,) = stack.connection_ids() - before
        presence.remove(connection_id, b)  # as if Redis lost it: nothing is pushed
        with stack.chat(a) as chat_a:
            assert chat_a.send(b, "never pushed")["type"] == "ack"
        expect(page.locator("#transcript li.in")).to_contain_text(["never pushed"])
        page.wait_for_timeout(800)  # more sweeps: still shown once
        assert len(entries(page, "never pushed")) == 1
        assert stack.all_unread(b) == []
    finally:
        page.context.close()


def test_page_refused_send_keeps_the_text(local_stack: Stack, browser: Browser) -> None:
    page = sign_in(browser, local_stack, new_user())
    try:
        too_long = "y" * 8001
        say(page, new_user(), too_long)
        expect(page.locator("#transcript li.error").last).to_contain_text("refused (too_large)")
        expect(page.locator("#text")).to_have_value(too_long)
    finally:
        page.context.close()


def test_token_endpoint_is_local_and_validated(local_stack: Stack) -> None:
    url = page_url(local_stack.rest_url).replace("/web/index.html", "/_dev/token")
    good = httpx.post(url, json={"user_id": 5}, timeout=5)
    assert good.status_code == 200
    token = good.json()["token"]
    assert local_stack.post("/api/v1/messages/unread", {}, token).status_code == 200

    for body in ({"user_id": 0}, {"user_id": "x"}, {}):
        assert httpx.post(url, json=body, timeout=5).status_code == 400
    foreign = httpx.post(url, json={"user_id": 5}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
