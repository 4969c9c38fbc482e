"""The browser page (clients/web) served by `make dev`, in headless Debian Chromium.

Playwright drives the system browser (browser downloads are impossible here); `make
browser` installs Debian's chromium. Without it these tests are skipped -- except under
CI=true, where a missing browser is a broken setup and fails.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    WebSocketRoute,
    expect,
    sync_playwright,
)

from chalicelib.presence import Presence
from infra.dev.web import page_url
from tests.e2e.support import Chat, Stack, new_user

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


# Uncaught exceptions and unhandled rejections in any page of the current test.
PAGE_ERRORS: list[str] = []


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[None]:
    PAGE_ERRORS.clear()
    yield
    assert PAGE_ERRORS == []


def sign_in(
    browser: Browser,
    stack: Stack,
    user: int,
    setup: Callable[[BrowserContext], None] | None = None,
    **timing: int,
) -> Page:
    context = browser.new_context()
    if setup:
        setup(context)
    if timing:  # the page reads overrides of its timers from sessionStorage
        script = f"sessionStorage.setItem('im.timing', '{json.dumps(timing)}')"
        context.add_init_script(script)
    page = context.new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(f"user {user}: {error}"))
    page.goto(page_url(stack.rest_url))
    page.fill("#user-id", str(user))
    page.click("#login button")
    expect(page.locator("#status")).to_have_attribute("data-status", "connected")
    return page


def direct(a: int, b: int) -> str:
    return f"d:{min(a, b)}:{max(a, b)}"


def chat_with(page: Page, peer: int) -> None:
    """Open the 1:1 conversation with `peer` through the "Chat with user id" form."""
    page.fill("#peer", str(peer))
    page.press("#peer", "Enter")
    expect(page.locator("#thread-title")).to_have_text(f"user {peer}")
    expect(page.locator("#thread-state")).not_to_have_text("loading…")


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def listed(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'#conversations li[data-conversation="{conversation_id}"]')


def shown(page: Page) -> Locator:
    """The messages of the open conversation."""
    return page.locator("#transcript li[data-id]")


def line(page: Page, text: str) -> Locator:
    return shown(page).filter(has_text=text)


def contents(page: Page) -> list[str]:
    return page.locator("#transcript li[data-id] .content").all_inner_texts()


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#transcript li[data-id]", "items => items.map(item => item.dataset.id)"
    )
    return ids


def sweeps(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.sweeps || 0)"))


def history(stack: Stack, user: int, conversation_id: str, **body: Any) -> dict[str, Any]:
    response = stack.post(
        "/api/v1/conversations/history",
        {"conversation_id": conversation_id, **body},
        stack.token(user),
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def send_to_group(chat: Chat, group_id: int, content: str) -> dict[str, Any]:
    ack_id = uuid.uuid4().hex
    frame = {"action": "send", "group_id": group_id, "content": content, "ack_id": ack_id}
    chat.send_frame(frame)
    return chat.reply_to(ack_id)


def test_direct_chat_unread_counts_receipts_and_a_reload(
    local_stack: Stack, browser: Browser
) -> None:
    stack = local_stack
    # B's id is past 2^53, where JavaScript numbers would round it: ids must stay exact.
    a, b, c = new_user(), 2**63 - new_user(), new_user()
    ab = direct(a, b)
    with stack.chat(a) as chat_a:
        assert chat_a.send(b, "sent before you came")["type"] == "ack"

    page_a, page_b = sign_in(browser, stack, a), sign_in(browser, stack, b)
    try:
        # The list shows the conversation and its unread count; A's copy is stored.
        expect(listed(page_b, ab).locator(".badge")).to_have_text("1")
        expect(listed(page_b, ab)).to_contain_text(f"{a}: sent before you came")
        chat_with(page_a, b)
        expect(line(page_a, "sent before you came").locator(".receipt")).to_have_attribute(
            "data-receipt", "sent"
        )

        # Opening it shows the message, marks it read (A sees ✓✓) and clears the badge.
        listed(page_b, ab).locator("button").click()
        expect(line(page_b, "sent before you came")).to_have_class("in")
        expect(line(page_a, "sent before you came").locator(".receipt")).to_have_attribute(
            "data-receipt", "read"
        )
        expect(listed(page_b, ab).locator(".badge")).to_have_count(0)
        assert stack.all_unread(b) == []

        say(page_a, "hello <b>B</b>")
        expect(shown(page_b).last).to_contain_text(f"{a}: hello <b>B</b>")
        expect(shown(page_a).last).to_contain_text("you: hello <b>B</b> ✓✓")  # B has it open
        say(page_b, "hi A")
        expect(shown(page_a).last).to_contain_text(f"{b}: hi A")
        assert page_b.locator("#transcript b").count() == 0  # content is text, never markup

        # A message from someone new: a new entry with its count, beside the open one.
        with stack.chat(c) as chat_c:
            assert chat_c.send(b, "from C")["type"] == "ack"
        expect(listed(page_b, direct(b, c)).locator(".badge")).to_have_text("1")
        expect(page_b.locator("#conversations li").first).to_have_attribute(
            "data-conversation", direct(b, c)
        )

        # A reload reopens the conversation from history: each message once.
        page_b.reload()
        expect(page_b.locator("#status")).to_have_attribute("data-status", "connected")
        expect(page_b.locator("#thread-title")).to_have_text(f"user {a}")
        say(page_a, "after the reload")
        expect(shown(page_b).last).to_contain_text("after the reload")
        assert contents(page_b) == [
            "sent before you came",
            "hello <b>B</b>",
            "hi A",
            "after the reload",
        ]
        ids = shown_ids(page_b)
        assert len(ids) == len(set(ids)) == 4
        expect(listed(page_b, direct(b, c)).locator(".badge")).to_have_text("1")
        seqs = [m["seq"] for m in history(stack, b, ab)["messages"]]
        assert (
            page_b.eval_on_selector_all(
                "#transcript li[data-id]", "items => items.map(item => Number(item.dataset.seq))"
            )
            == seqs
        )
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
                const thread = new m.Thread("d:1:2");
                const put = [3, 1, 2, 1].map((seq) => thread.put({id: `m${seq}`, seq, status: 0}));
                thread.put({id: "m2", seq: 2, status: m.RECALLED});
                const big = "9223372036854775807";
                return {
                    delays: [1, 2, 3, 4, 5].map(() => backoff.next()),
                    parsed: m.parseJson(
                        `{"from": ${big}, "n": 5, "group_id": 7, "read_by": [${big}, 3],`
                        + ` "user_ids": [${big}], "seqs": [1, 2], "peer": ${big}, "owner": ${big}}`
                    ),
                    ids: [big, "9223372036854775808", "0", "1.5", "01"].map(m.isUserId),
                    groups: ["9007199254740991", "9007199254740992", "0"].map(m.isGroupId),
                    direct: [m.directId(big, "10"), m.directId("10", big), m.directId("5", "5")],
                    conversations: [
                        `d:10:${big}`, `d:${big}:10`, "g:42", "g:0", "x:1", "d:1:2:3",
                    ].map(m.parseConversationId),
                    frames: [
                        JSON.parse(m.sendFrame({to: "42", content: 'a"b', ackId: "k"})),
                        m.sendFrame({to: big, content: "", ackId: "k"}),
                        JSON.parse(m.sendFrame({groupId: "7", content: "g", ackId: "k"})),
                    ],
                    body: JSON.stringify({members: [m.jsonId(big)]}),
                    thread: {
                        put,
                        order: thread.ordered().map((x) => x.seq),
                        recalled: thread.messages.get("m2").status,
                        newest: thread.newestSeq(),
                    },
                    ackIds: new Set([m.newAckId(), m.newAckId()]).size,
                };
            }"""
        )
        big = "9223372036854775807"
        assert result == {
            "delays": [500, 1000, 2000, 4000, 4000],
            "parsed": {
                "from": big,
                "n": 5,
                "group_id": "7",
                "read_by": [big, "3"],
                "user_ids": [big],
                "seqs": [1, 2],
                "peer": big,
                "owner": big,
            },
            "ids": [True, False, False, False, False],
            "groups": [True, False, False],
            "direct": [f"d:10:{big}", f"d:10:{big}", "d:5:5"],
            "conversations": [
                {"kind": "direct", "users": ["10", big]},
                None,
                {"kind": "group", "groupId": "42"},
                None,
                None,
                None,
            ],
            "frames": [
                {"action": "send", "to": 42, "content": 'a"b', "ack_id": "k"},
                f'{{"action":"send","to":{big},"content":"","ack_id":"k"}}',
                {"action": "send", "group_id": 7, "content": "g", "ack_id": "k"},
            ],
            "body": f'{{"members":[{big}]}}',
            "thread": {
                "put": [True, True, True, False],
                "order": [1, 2, 3],
                "recalled": 2,
                "newest": 3,
            },
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
        chat_with(page, a)
        (connection_id,) = stack.connection_ids() - before
        with stack.chat(a) as chat_a:
            oops = chat_a.send(b, "oops")["message_id"]
            expect(line(page, "oops")).to_have_count(1)
            stack.drop(connection_id)
            expect(page.locator("#status")).to_have_attribute("data-status", "reconnecting…")
            assert chat_a.send(b, "while the page was away")["type"] == "ack"
            recalled = stack.post("/api/v1/messages/recall", {"message_id": oops}, stack.token(a))
            assert recalled.status_code == 200, recalled.text
        expect(page.locator("#status")).to_have_attribute("data-status", "connected")
        # Caught up through history before it counts as connected: already drawn, and
        # the recall it missed is applied.
        assert contents(page) == ["message recalled", "while the page was away"]
        expect(page.locator("#log li.notice").last).to_have_text("— connected again")
        expect(listed(page, direct(a, b)).locator(".badge")).to_have_count(0)
    finally:
        page.context.close()


def test_page_finds_what_the_server_could_not_push(local_stack: Stack, browser: Browser) -> None:
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()
    before = stack.connection_ids()
    page = sign_in(browser, stack, b, pingIntervalMs=300)
    try:
        chat_with(page, a)
        (connection_id,) = stack.connection_ids() - before
        presence.remove(connection_id, b)  # as if Redis lost it: nothing is pushed
        with stack.chat(a) as chat_a:
            assert chat_a.send(b, "never pushed")["type"] == "ack"
        expect(line(page, "never pushed")).to_have_count(1)
        # Two more sweeps (each marks read what is shown before it ends): still once.
        later = sweeps(page) + 2
        page.wait_for_function(f"Number(document.body.dataset.sweeps) >= {later}")
        assert contents(page) == ["never pushed"]
        assert stack.all_unread(b) == []
    finally:
        page.context.close()


def test_page_sends_again_after_a_reload_with_the_same_ack_id(
    local_stack: Stack, browser: Browser
) -> None:
    stack = local_stack
    a, b = new_user(), new_user()
    connections: list[WebSocketRoute] = []

    def swallow_the_first_ack(context: BrowserContext) -> None:
        """Frames pass through to the real server, except the first connection's acks:
        the server stores the message, the page never hears so."""

        def route(ws: WebSocketRoute) -> None:
            first = not connections
            connections.append(ws)
            server = ws.connect_to_server()
            ws.on_message(server.send)

            def to_page(message: str | bytes) -> None:
                if not (first and '"type":"ack"' in str(message)):
                    ws.send(message)

            server.on_message(to_page)

        context.route_web_socket("**/*", route)

    page = sign_in(browser, stack, b, setup=swallow_the_first_ack)
    try:
        chat_with(page, a)
        # The first is stored unacknowledged; the second waits for that ack (one send at
        # a time), so only this page's sessionStorage has it.
        say(page, "stored, never acknowledged")
        say(page, "never sent")
        expect(page.locator("#transcript li.pending")).to_have_count(2)
        page.wait_for_function(
            "JSON.parse(sessionStorage.getItem('im.outbox') || '[]').length === 2"
        )
        page.reload()  # both go again from sessionStorage, with their ack_ids
        expect(page.locator("#status")).to_have_attribute("data-status", "connected")
        expect(page.locator("#transcript li.pending")).to_have_count(0)
        assert contents(page) == ["stored, never acknowledged", "never sent"]
        assert len(connections) == 2
        stored = history(stack, a, direct(a, b))["messages"]
        assert [m["content"] for m in stored] == ["stored, never acknowledged", "never sent"]
    finally:
        page.context.close()


def test_page_refused_send_keeps_the_text(local_stack: Stack, browser: Browser) -> None:
    page = sign_in(browser, local_stack, new_user())
    try:
        chat_with(page, new_user())
        too_long = "y" * 8001
        say(page, too_long)
        expect(page.locator("#log li.error").last).to_contain_text("refused (too_large)")
        expect(page.locator("#text")).to_have_value(too_long)
        expect(page.locator("#transcript li.refused")).to_contain_text("✗")
        expect(shown(page)).to_have_count(0)
    finally:
        page.context.close()


def test_page_scrolls_back_through_history_and_fills_a_gap(
    local_stack: Stack, browser: Browser
) -> None:
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()
    texts = [f"m{i:02}" for i in range(1, 56)]
    with stack.chat(a) as chat_a:
        for text in texts:
            assert chat_a.send(b, text)["type"] == "ack"
        before = stack.connection_ids()
        page = sign_in(browser, stack, b)
        try:
            (connection_id,) = stack.connection_ids() - before
            expect(listed(page, direct(a, b)).locator(".badge")).to_have_text("55")
            listed(page, direct(a, b)).locator("button").click()
            # The newest page first, then older ones on request, all in seq order.
            expect(shown(page)).to_have_count(50)
            assert contents(page) == texts[5:]
            page.click("#older")
            expect(shown(page)).to_have_count(55)
            expect(page.locator("#older")).to_be_hidden()
            assert contents(page) == texts

            # A message that was not pushed, then one that was: the seq gap is filled
            # from history (no ping sweep runs in this test: the interval is 5 minutes).
            presence.remove(connection_id, b)
            assert chat_a.send(b, "not pushed")["type"] == "ack"
            presence.add(connection_id, b)
            assert chat_a.send(b, "pushed")["type"] == "ack"
            expect(shown(page)).to_have_count(57)
            assert contents(page)[-2:] == ["not pushed", "pushed"]
            assert len(set(shown_ids(page))) == 57
            expect(listed(page, direct(a, b)).locator(".badge")).to_have_count(0)
        finally:
            page.context.close()


def test_page_group_create_read_by_and_leave(local_stack: Stack, browser: Browser) -> None:
    stack = local_stack
    a, b, c = new_user(), new_user(), new_user()
    page_a, page_b = sign_in(browser, stack, a), sign_in(browser, stack, b)
    try:
        with stack.chat(c) as chat_c:
            page_a.fill("#group-name", "Team <i>x</i>")
            page_a.fill("#group-members", f"{b}, {c}")
            page_a.click("#new-group button")
            expect(page_a.locator("#thread-title")).to_have_text("Team <i>x</i>")
            expect(page_a.locator("#thread-info")).to_contain_text("3 members")
            created = chat_c.expect("group")
            assert created["event"] == "created" and created["by"] == a
            group_id, conversation = created["group_id"], created["conversation_id"]

            # B's list learns of the group from the `group` frame.
            expect(listed(page_b, conversation)).to_contain_text("Team <i>x</i>")
            assert page_b.locator("#conversations i").count() == 0
            expect(page_b.locator("#log li.notice").last).to_contain_text(f"{a} added you")

            say(page_a, "hello team")
            assert chat_c.expect("message")["message"]["content"] == "hello team"
            expect(listed(page_b, conversation).locator(".badge")).to_have_text("1")
            expect(line(page_a, "hello team").locator(".read-by")).to_have_text("read by 0")

            listed(page_b, conversation).locator("button").click()
            expect(line(page_b, "hello team")).to_have_class("in")
            expect(line(page_a, "hello team").locator(".read-by")).to_have_text("read by 1")

            assert send_to_group(chat_c, group_id, "C here")["type"] == "ack"
            expect(shown(page_a).last).to_contain_text(f"{c}: C here")
            expect(shown(page_b).last).to_contain_text(f"{c}: C here")
            # C reads only A's next message (v1 mark-read by id, out of order): its
            # read position stays below "hello team", the receipt names the message.
            say(page_a, "second")
            second = chat_c.wait_for(
                lambda f: f.get("type") == "message" and f["message"]["content"] == "second"
            )
            assert stack.mark_read(c, [second["message"]["id"]]) == 1
            expect(line(page_a, "second").locator(".read-by")).to_have_text("read by 2")
            expect(line(page_a, "hello team").locator(".read-by")).to_have_text("read by 1")
            read = stack.post(
                "/api/v1/conversations/mark-read",
                {"conversation_id": conversation},
                stack.token(c),
            )
            assert read.status_code == 200, read.text
            expect(line(page_a, "hello team").locator(".read-by")).to_have_text("read by 2")
            line(page_a, "hello team").locator(".read-by").click()
            expect(line(page_a, "hello team").locator(".readers")).to_have_text(
                f"(2 of 2: {', '.join(sorted([str(b), str(c)], key=int))})"
            )

            # B leaves: the group goes from B's list; A's page sees two members.
            page_b.click("#leave")
            expect(listed(page_b, conversation)).to_have_count(0)
            expect(page_b.locator("#thread")).to_be_hidden()
            expect(page_a.locator("#thread-info")).to_contain_text("2 members")
            assert chat_c.expect("group")["event"] == "member_left"
    finally:
        page_a.context.close()
        page_b.context.close()


def test_page_recall_on_every_device(local_stack: Stack, browser: Browser) -> None:
    stack = local_stack
    a, b = new_user(), new_user()
    # A's second device allows no time for recalling: it shows no Recall button.
    page_a1 = sign_in(browser, stack, a)
    page_a2 = sign_in(browser, stack, a, recallWindowMs=1)
    page_b = sign_in(browser, stack, b)
    try:
        for page, peer in ((page_a1, b), (page_a2, b), (page_b, a)):
            chat_with(page, peer)
        say(page_a1, "oops")
        say(page_a1, "kept")
        for page in (page_a1, page_a2, page_b):
            expect(line(page, "kept")).to_have_count(1)
        expect(line(page_b, "kept")).to_have_class("in")
        # The sender's other device gets copies and shows them as the sender's own.
        expect(line(page_a2, "oops")).to_contain_text("you: oops")
        expect(line(page_a2, "oops")).to_have_class("out")
        expect(page_a2.locator("#transcript .recall")).to_have_count(0)
        assert page_b.locator("#transcript .recall").count() == 0  # not B's to recall
        oops_id = line(page_a1, "oops").get_attribute("data-id")

        line(page_a1, "oops").get_by_role("button", name="Recall this message").click()
        for page in (page_a1, page_a2, page_b):
            recalled = page.locator(f'#transcript li[data-id="{oops_id}"]')
            expect(recalled).to_have_class("out recalled" if page is not page_b else "in recalled")
            expect(recalled.locator(".content")).to_have_text("message recalled")
            assert contents(page) == ["message recalled", "kept"]  # in place
        expect(line(page_a1, "kept").locator(".recall")).to_have_count(1)
        expect(line(page_a1, "message recalled").locator(".recall")).to_have_count(0)
        say(page_a1, "last")
        line(page_a1, "last").get_by_role("button", name="Recall this message").click()
        expect(listed(page_b, direct(a, b))).to_contain_text(f"{a}: message recalled")
        expect(listed(page_a2, direct(a, b))).to_contain_text("you: message recalled")
    finally:
        for page in (page_a1, page_a2, page_b):
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
