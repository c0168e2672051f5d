#!/usr/bin/env python3
"""The Inspector web page (`GET /ui`) in a real browser, against a running PIKA Memory.

Seeds a fresh user through the HTTP API (standard library only), then drives Chromium with
Playwright's sync API through signing in, the users list, a user's facts and their source
turns, a fact's history, an edit, a search, the projections and forgetting the user:

    python tests/ui/test_inspector.py --url http://127.0.0.1:8080 --key SECRET \\
        --chromium /usr/bin/chromium --artifacts target/artifacts/ui

Writes a full-page screenshot of each page into the artifacts directory (and `failure.png`
when a step fails). Prints one line per step and exits 1 at the first failure.
"""

import argparse
import json
import re
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

TIMEOUT_MS = 15_000
JOB_TIMEOUT_S = 60
SENTENCE = "My dog is called Biscuit and I love pizza."
FALLBACK_SENTENCE = "My favorite food is pizza."
WRONG_KEY = "not-the-key-0000000000"


class StepFailed(Exception):
    pass


def ok(message):
    print(f"ok    {message}", flush=True)


def check(condition, message):
    if not condition:
        raise StepFailed(message)


# -------------------------------------------------------------------------------------------
# The HTTP API, for seeding and checking


class Api:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None, key=None):
        """Answers (status, headers, parsed JSON or None); never raises on an HTTP status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {key or self.key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise StepFailed(f"{method} {path}: the service could not be reached ({error})")
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, headers, parsed

    def expect(self, method, path, statuses, body=None):
        status, _, parsed = self.call(method, path, body)
        check(status in statuses, f"{method} {path} answered {status}: {parsed}")
        return parsed

    def raw_get(self, path):
        request = urllib.request.Request(self.base + path, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise StepFailed(f"GET {path}: the service could not be reached ({error})")


def wait_for_job(api, job_id):
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job = api.expect("GET", f"/v1/jobs/{job_id}?wait=5", {200})
        if job["status"] in ("completed", "failed", "dead_lettered", "skipped"):
            check(job["status"] == "completed", f"the extraction job did not complete: {job}")
            return job
        check(time.monotonic() < deadline, f"the job was not done within {JOB_TIMEOUT_S} s: {job}")


def submit(api, user_id, sentence):
    accepted = api.expect(
        "POST",
        "/v1/extractions",
        {202},
        {
            "user_id": user_id,
            "messages": [
                {"role": "user", "content": sentence},
                {"role": "assistant", "content": "That sounds lovely!"},
            ],
        },
    )
    return wait_for_job(api, accepted["job_id"])


def seed(api, user_id):
    """A conversation that yields at least one fact; answers (fact, the sentence it came from,
    how many jobs were submitted)."""
    for jobs, sentence in enumerate((SENTENCE, FALLBACK_SENTENCE), start=1):
        submit(api, user_id, sentence)
        facts = api.expect("GET", f"/v1/users/{user_id}/facts", {200})["facts"]
        if facts:
            dogs = [f for f in facts if f["key"] == "pet.dog"]
            fact = (dogs or facts)[0]
            check(
                fact["source"].get("job_id"),
                f"an extracted fact should name its source job: {fact}",
            )
            return fact, sentence, jobs
    raise StepFailed("neither conversation gave a fact; is the rule-based extractor on?")


# -------------------------------------------------------------------------------------------
# The browser


def fact_card(page, fact_id):
    return page.locator(f'[data-testid="fact"][data-fact-id="{fact_id}"]')


def user_row(page, user_id):
    return page.locator(f'[data-testid="user-row"][data-user-id="{user_id}"]')


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / name), full_page=True)


def filter_users(page, user_id):
    page.get_by_label("Filter by user id").fill(user_id)
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/users\?prefix="))
    expect(page.get_by_test_id("users-summary")).to_be_visible()


def open_user(page, user_id):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    filter_users(page, user_id)
    row = user_row(page, user_id)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=user_id).click()
    expect(page.get_by_test_id("user-title")).to_have_text(user_id)


def gone_from_list(page, user_id):
    """The list is read again until the user is gone (the read models follow a forget within
    moments; the page already waits for the facts read model before it shows the list)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        filter_users(page, user_id)
        try:
            expect(user_row(page, user_id)).to_have_count(0, timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise


def no_horizontal_scroll(page, what):
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    check(widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px in {widths[1]} px")


def tab_to(page, locator, what, limit=60):
    """Presses Tab until `locator` has the focus: proves it is reachable by keyboard alone."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{what} is not reachable with the Tab key")


def run(args, api, artifacts, page, problems):
    user_id = f"ui-kid-{uuid.uuid4().hex[:10]}"
    fact, sentence, jobs = seed(api, user_id)
    fact_id, old_value = fact["fact_id"], fact["value"]
    new_value = "Rex" if fact["key"] == "pet.dog" else "sushi"
    ok(f"seeded {user_id}: {fact['key']} = {old_value} from {sentence!r}")

    # The page and its headers.
    status, headers, _ = api.raw_get("/ui")
    check(status == 200, f"GET /ui answered {status}")
    csp = headers.get("Content-Security-Policy", "")
    check("script-src 'self'" in csp, f"GET /ui should send the CSP; got {csp!r}")

    page.goto(f"{args.url.rstrip('/')}/ui")
    expect(page.get_by_text("PIKA Memory · Inspector").first).to_be_visible()
    key_input = page.get_by_label("API key")
    expect(key_input).to_be_visible()
    expect(key_input).to_have_attribute("type", "password")
    shot(page, artifacts, "signin.png")

    # A wrong key is refused.
    key_input.fill(WRONG_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="That API key was refused.")).to_be_visible()
    expect(key_input).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    ok("a wrong key is refused and the form stays")

    # The right key, with the keyboard alone: Tab to the field, type, Enter.
    key_input.fill("")
    page.locator("body").focus()
    tab_to(page, key_input, "the API key field")
    page.keyboard.type(args.key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_visible()
    check(args.key not in page.url, "the key must never be in the URL")
    stored = page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie]"
    )
    check(stored == [0, 0, ""], f"the key must live only in memory; storage holds {stored}")
    filter_users(page, user_id)
    expect(user_row(page, user_id)).to_have_count(1)
    no_horizontal_scroll(page, "the users page")
    shot(page, artifacts, "users.png")
    ok("signed in with the keyboard alone; the user is listed")

    # The user, opened from the keyboard: the fact, its value and its source turn.
    user_link = user_row(page, user_id).get_by_role("link", name=user_id)
    tab_to(page, user_link, "the user's link")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("user-title")).to_have_text(user_id)
    card = fact_card(page, fact_id)
    expect(card).to_be_visible()
    expect(card.get_by_test_id("fact-value")).to_have_text(old_value)
    expect(card.get_by_test_id("fact-version")).to_have_text("version 1")
    source = card.get_by_test_id("source-turn").filter(has_text=sentence)
    expect(source).to_be_visible()
    expect(page.get_by_test_id("turn").filter(has_text=sentence)).to_have_count(1)
    source.get_by_role("button", name="Show in conversation").click()
    turn = page.locator(f'[data-testid="turn"][data-job-id="{fact["source"]["job_id"]}"]'
                        f'[data-message-index="{fact["source"]["message_indexes"][0]}"]')
    expect(turn).to_have_class(re.compile(r"\bhighlight\b"))
    expect(turn).to_be_focused()
    expect(turn).to_be_in_viewport()
    expect(page.get_by_test_id("job-row")).to_have_count(jobs)
    expect(page.get_by_test_id("job-row").first).to_have_attribute("data-status", "completed")
    shot(page, artifacts, "user.png")
    ok("the user page shows the fact, its source turn, the conversation and the job")

    # Its history: one version.
    card.get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(rf"#/facts/{fact_id}$"))
    versions = page.get_by_test_id("history-version")
    expect(versions).to_have_count(1)
    expect(versions.first).to_have_attribute("data-event", "FactAdded")
    expect(versions.first).to_contain_text(old_value)
    expect(page.get_by_test_id("history-user")).to_have_text(user_id)
    shot(page, artifacts, "history.png")
    ok("the history shows one version")

    # Back, and edit the value.
    page.go_back()
    expect(page.get_by_test_id("user-title")).to_have_text(user_id)
    card = fact_card(page, fact_id)
    card.get_by_role("button", name="Edit").click()
    value_input = card.get_by_label("New value")
    expect(value_input).to_be_focused()
    value_input.fill(new_value)
    card.get_by_role("button", name="Save").click()
    card = fact_card(page, fact_id)
    expect(card.get_by_test_id("fact-value")).to_have_text(new_value)
    expect(card.get_by_test_id("fact-version")).to_have_text("version 2")
    expect(page.get_by_test_id("notice")).to_contain_text("version 2")
    card.get_by_role("link", name="History").click()
    versions = page.get_by_test_id("history-version")
    expect(versions).to_have_count(2)
    expect(versions.nth(1)).to_have_attribute("data-event", "FactUpdated")
    expect(versions.nth(1).get_by_test_id("history-value")).to_contain_text(old_value)
    expect(versions.nth(1).get_by_test_id("history-value")).to_contain_text(new_value)
    page.go_back()
    expect(page.get_by_test_id("user-title")).to_have_text(user_id)
    ok(f"edited {old_value} → {new_value}: version 2, two versions in the history")

    # Add a fact by hand, then retract it with a reason.
    form = page.get_by_test_id("add-fact-form")
    form.get_by_label("Key").fill("likes.sport")
    form.get_by_label("Value", exact=True).fill("football")
    form.get_by_label("Text (optional)").fill("Likes playing football")
    form.get_by_role("button", name="Add fact").click()
    added = page.get_by_test_id("fact").filter(
        has=page.get_by_test_id("fact-value").filter(has_text=re.compile("^football$"))
    )
    expect(added).to_have_count(1)
    expect(added).to_contain_text("added by hand")
    expect(page.get_by_test_id("notice")).to_contain_text("Added likes.sport")
    added.get_by_role("button", name="Retract").click()
    added.get_by_label("Reason for retracting").fill("said by mistake")
    added.get_by_role("button", name="Retract fact").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Retracted likes.sport")
    expect(added).to_have_count(0)
    expect(fact_card(page, fact_id)).to_be_visible()
    ok("added a fact by hand and retracted it")

    # Search.
    query = "dog" if fact["key"] == "pet.dog" else "pizza"
    page.get_by_label("Search this user's memory").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_test_id("search-result")
    expect(results.first).to_be_visible()
    expect(results.first.get_by_test_id("result-score")).to_have_text(re.compile(r"score \d"))
    expect(page.get_by_test_id("served-from")).to_have_text(re.compile(r"^answered by L[0-4]$"))
    results.first.scroll_into_view_if_needed()
    shot(page, artifacts, "search.png")
    ok(f"a search for {query!r} answers {results.count()} result(s), "
       f"{page.get_by_test_id('served-from').inner_text()}")

    # The user page on a phone.
    page.set_viewport_size({"width": 375, "height": 800})
    expect(fact_card(page, fact_id)).to_be_visible()
    no_horizontal_scroll(page, "the user page at 375 px")
    shot(page, artifacts, "user-375.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    ok("the user page fits 375 px without sideways scrolling")

    # Projections.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projections").click()
    expect(page.get_by_role("heading", level=1, name="Projections")).to_be_visible()
    rows = page.get_by_test_id("projection-row")
    expect(rows.first).to_be_visible()
    shot(page, artifacts, "projections.png")
    ok(f"projections: {rows.count()} row(s)")

    # Forget the user, confirmed by typing the id.
    open_user(page, user_id)
    forget = page.get_by_role("button", name="Forget this user")
    expect(forget).to_be_disabled()
    confirm = page.get_by_label(f"Type {user_id} to confirm")
    confirm.fill(user_id[:-1])
    expect(forget).to_be_disabled()
    confirm.fill(user_id)
    expect(forget).to_be_enabled()
    forget.click()
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_visible()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Forgot {user_id}")
    gone_from_list(page, user_id)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        status, _, body = api.call("GET", f"/v1/users/{user_id}/facts")
        if status == 404 or (status == 200 and body and body.get("facts") == []):
            break
        check(time.monotonic() < deadline, f"the forgotten user still has facts: {status} {body}")
        time.sleep(0.2)
    status, _, _ = api.call("GET", f"/v1/facts/{fact_id}/history")
    check(status == 404, f"a forgotten user's fact history should be gone; got {status}")
    ok("forgot the user: gone from the list, no facts, no history")

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_label("API key")).to_have_value("")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.locator("#view")).to_be_empty()
    ok("sign out shows the form and leaves no data in the page")

    check(not problems, "the page logged errors:\n  " + "\n  ".join(problems))
    ok("no script errors or CSP violations")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="an API key of the service")
    parser.add_argument("--chromium", required=True, help="a Chromium executable")
    parser.add_argument("--artifacts", default="target/artifacts/ui", help="screenshots go here")
    parser.add_argument("--headed", action="store_true", help="show the browser")
    args = parser.parse_args()

    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    api = Api(args.url, args.key)
    expect.set_options(timeout=TIMEOUT_MS)

    page = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox"], headless=not args.headed
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                problems = []
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on(
                    "console",
                    lambda message: problems.append(f"console {message.type}: {message.text}")
                    if message.type == "error" and not expected_console_error(message.text)
                    else None,
                )
                run(args, api, artifacts, page, problems)
            except BaseException:
                if page is not None:
                    try:
                        page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
                        print(f"note  the page at the failure: {artifacts / 'failure.png'}")
                    except PlaywrightError:
                        pass
                raise
            finally:
                browser.close()
    except StepFailed as failure:
        print(f"FAIL  {failure}", file=sys.stderr)
        return 1
    except (AssertionError, PlaywrightError) as failure:
        # Playwright's expect raises AssertionError with what it waited for and what it saw.
        traceback.print_exc()
        print(f"FAIL  {str(failure).strip().splitlines()[0] if str(failure).strip() else failure!r}",
              file=sys.stderr)
        return 1
    except Exception as failure:  # noqa: BLE001 - any other failure is a failed test too
        traceback.print_exc()
        print(f"FAIL  unexpected {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    print(f"PASS  the Inspector works; screenshots in {artifacts}")
    return 0


def expected_console_error(text):
    """The refused key's 401 is logged by Chromium as a failed resource load; it is expected."""
    return "401" in text and "Failed to load resource" in text


if __name__ == "__main__":
    sys.exit(main())
