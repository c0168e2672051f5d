#!/usr/bin/env python3
"""The PyPI `mem0ai` client, unchanged, against a running PIKA Memory (issue 20).

Every call goes through mem0ai's own `MemoryClient` and `AsyncMemoryClient` with only the host
changed, so a team using Mem0's platform can switch by pointing the client at PIKA Memory.
Standard library and mem0ai only; `scripts/mem0-compat.sh` runs it against a throwaway server
in each mode:

    python tests/mem0/test_mem0_client.py --url http://127.0.0.1:8080 --key SECRET \\
        --other-key OTHER_TENANTS_SECRET

Prints one line per step and exits 1 at the first failure.
"""

import argparse
import asyncio
import logging
import os
import sys
import traceback
import uuid

# Read when mem0 is imported: no telemetry leaves the machine.
os.environ.setdefault("MEM0_TELEMETRY", "false")

from mem0 import AsyncMemoryClient, MemoryClient  # noqa: E402

# mem0ai logs every HTTP error before raising it; the failures this test expects would be noise,
# and an unexpected one is reported with the exception it raised.
logging.getLogger("mem0").setLevel(logging.CRITICAL)

MESSAGES = [
    {
        "role": "user",
        "content": "Hi! My name is Minh and I'm 8 years old. I have a dog called Max.",
    },
    {"role": "assistant", "content": "Nice to meet you Minh!"},
]
DOG_QUERY = "what is my dog called"
MEMORY_KEYS = ("id", "memory", "user_id", "metadata", "categories", "created_at", "updated_at")


class StepFailed(Exception):
    pass


def ok(message):
    print(f"ok    {message}", flush=True)


def check(condition, message):
    if not condition:
        raise StepFailed(message)


def status_of(error):
    """The HTTP status mem0ai's exceptions carry (`debug_info["status_code"]`), if any."""
    info = getattr(error, "debug_info", None)
    return info.get("status_code") if isinstance(info, dict) else None


def expect_error(what, call, status=None, mentions=()):
    """Runs `call`, which must raise; checks the HTTP status and words of the error."""
    try:
        answer = call()
    except Exception as error:  # mem0ai raises its own classes (mem0.exceptions)
        text = str(error)
        if status is not None:
            check(
                status_of(error) == status,
                f"{what}: expected an HTTP {status} error, got {error!r}",
            )
        for word in mentions:
            check(word in text, f"{what}: the error should mention {word!r}: {text!r}")
        return error
    raise StepFailed(f"{what}: expected an error, got {answer!r}")


def results_of(answer, what):
    check(isinstance(answer, dict), f"{what}: expected a dict, got {answer!r}")
    check("results" in answer, f"{what}: no 'results' in {answer!r}")
    results = answer["results"]
    check(isinstance(results, list), f"{what}: 'results' is not a list: {answer!r}")
    return results


def check_added(answer, what):
    results = results_of(answer, what)
    added = [r for r in results if isinstance(r, dict) and r.get("event") == "ADD"]
    check(added, f"{what}: no result with event 'ADD': {answer!r}")
    for result in added:
        check(result.get("id"), f"{what}: an added result has no id: {result!r}")
        memory = result.get("memory")
        check(
            isinstance(memory, str) and memory.strip(),
            f"{what}: an added result has no memory text: {result!r}",
        )
    return results


def dog_memory(results, what):
    """The result whose memory mentions Max, checking every result has id, memory and score."""
    for result in results:
        for key in ("id", "memory", "score"):
            check(key in result, f"{what}: a result has no {key!r}: {result!r}")
        check(
            isinstance(result["score"], (int, float)),
            f"{what}: score is not a number: {result!r}",
        )
    dogs = [r for r in results if "Max" in r["memory"]]
    check(dogs, f"{what}: no result mentions Max: {results!r}")
    return dogs[0]


def new_user(label):
    return f"mem0-compat-{label}-{uuid.uuid4().hex}"


def sync_steps(url, key, other_key):
    user = new_user("sync")
    second = new_user("raw")

    client = MemoryClient(api_key=key, host=url)
    ok("MemoryClient constructed (GET /v1/ping/)")

    expect_error(
        "a wrong key",
        lambda: MemoryClient(api_key=f"wrong-{uuid.uuid4().hex}", host=url),
    )
    ok("a wrong key is refused when the client is constructed")

    added = client.add(MESSAGES, user_id=user)
    added_results = check_added(added, "add")
    added_ids = {r["id"] for r in added_results}
    ok(f"add: {len(added_results)} result(s): {[r['memory'] for r in added_results]}")

    found = results_of(client.search(DOG_QUERY, filters={"user_id": user}), "search")
    check(found, f"search right after add found nothing for {DOG_QUERY!r}")
    dog = dog_memory(found, "search")
    dog_id = dog["id"]
    check(
        dog_id in added_ids,
        f"search: the dog memory {dog_id} is not one add answered with ({sorted(added_ids)})",
    )
    ok(f"search right after add: {dog['memory']!r} (score {dog['score']})")

    page = client.get_all(filters={"user_id": user})
    listed = results_of(page, "get_all")
    check("count" in page, f"get_all: no 'count' in {page!r}")
    check(
        page["count"] == len(listed),
        f"get_all: count {page['count']} but {len(listed)} results in one page",
    )
    listed_ids = {m.get("id") for m in listed}
    check(
        added_ids <= listed_ids,
        f"get_all: missing added memories {sorted(added_ids - listed_ids)}: {listed!r}",
    )
    for memory in listed:
        check(memory.get("user_id") == user, f"get_all: a memory of another user: {memory!r}")
    ok(f"get_all: {page['count']} memories, every added one among them")

    first = client.get_all(filters={"user_id": user}, page=1, page_size=1)
    first_results = results_of(first, "get_all page 1 of size 1")
    check(len(first_results) == 1, f"get_all page_size=1: expected 1 result, got {first!r}")
    check(
        first.get("count") == page["count"],
        f"get_all page_size=1: count {first.get('count')} differs from {page['count']}",
    )
    if page["count"] > 1:
        check(first.get("next"), f"get_all page_size=1: no 'next' page link: {first!r}")
    ok("get_all page=1 page_size=1: one memory")

    memory = client.get(dog_id)
    for field in MEMORY_KEYS:
        check(field in memory, f"get: no {field!r} in {memory!r}")
    check(memory["id"] == dog_id, f"get: asked for {dog_id}, got {memory!r}")
    check("Max" in memory["memory"], f"get: the memory does not mention Max: {memory!r}")
    check(memory["user_id"] == user, f"get: user_id is not {user}: {memory!r}")
    check(isinstance(memory["categories"], list), f"get: categories is not a list: {memory!r}")
    ok(f"get: {memory['memory']!r}")

    client.update(dog_id, text="Has a dog called Rex")
    updated = client.get(dog_id)
    check("Rex" in updated["memory"], f"get after update: the memory does not say Rex: {updated!r}")
    ok(f"update then get: {updated['memory']!r}")

    history = client.history(dog_id)
    check(isinstance(history, list), f"history: expected a list, got {history!r}")
    check(len(history) >= 2, f"history: expected the original and the update, got {history!r}")
    for entry in history:
        for field in ("event", "new_memory", "old_memory"):
            check(field in entry, f"history: an entry has no {field!r}: {entry!r}")
    check(history[0]["event"] == "ADD", f"history: the first entry is not ADD: {history!r}")
    last = history[-1]
    check(last["event"] == "UPDATE", f"history: the last entry is not UPDATE: {history!r}")
    check("Rex" in (last["new_memory"] or ""), f"history: the update's new_memory: {last!r}")
    check("Max" in (last["old_memory"] or ""), f"history: the update's old_memory: {last!r}")
    ok(f"history: {[e['event'] for e in history]}")

    users = client.users()
    entities = results_of(users, "users")
    mine = [e for e in entities if e.get("name") == user]
    check(mine, f"users: {user} is not listed: {users!r}")
    check(mine[0].get("type") == "user", f"users: {user} is not of type 'user': {mine[0]!r}")
    ok(f"users: {user} listed among {len(entities)}")

    other = MemoryClient(api_key=other_key, host=url)
    theirs = results_of(other.get_all(filters={"user_id": user}), "get_all with another key")
    check(theirs == [], f"another tenant's key sees this user's memories: {theirs!r}")
    theirs = results_of(other.search(DOG_QUERY, filters={"user_id": user}), "search, another key")
    check(theirs == [], f"another tenant's key finds this user's memories: {theirs!r}")
    expect_error("get with another tenant's key", lambda: other.get(dog_id), status=404)
    listed = [e.get("name") for e in results_of(other.users(), "users with another key")]
    check(user not in listed, f"another tenant's key lists {user}: {listed!r}")
    ok("another tenant's key: get_all and search empty, get 404, users without this user")

    client.delete(dog_id)
    expect_error("get after delete", lambda: client.get(dog_id), status=404)
    events = [e.get("event") for e in client.history(dog_id)]
    check(events[-1:] == ["DELETE"], f"history after delete: the last event is not DELETE: {events}")
    ok(f"delete then get: 404; history {events}")

    client.delete_all(user_id=user)
    left = results_of(client.get_all(filters={"user_id": user}), "get_all after delete_all")
    check(left == [], f"get_all after delete_all still lists {left!r}")
    left = results_of(client.search(DOG_QUERY, filters={"user_id": user}), "search, delete_all")
    check(left == [], f"search after delete_all still finds {left!r}")
    ok("delete_all: get_all and search empty")

    raw = client.add(
        [{"role": "user", "content": "I like green apples and drawing cats."}],
        user_id=second,
        infer=False,
    )
    results_of(raw, "add with infer=False")
    names = [e.get("name") for e in results_of(client.users(), "users")]
    check(second in names, f"users: {second} (added with infer=False) is not listed: {names!r}")
    ok(f"add with infer=False: {len(raw['results'])} result(s); the user is listed")

    client.delete_users(user_id=second)
    names = [e.get("name") for e in results_of(client.users(), "users after delete_users")]
    check(second not in names, f"users after delete_users still lists {second}: {names!r}")
    ok("delete_users: the user is no longer listed")

    for what, call in (
        ("get_all", lambda: client.get_all(filters={"agent_id": "x"})),
        ("search", lambda: client.search(DOG_QUERY, filters={"agent_id": "x"})),
    ):
        error = expect_error(
            f"{what} with an agent_id filter", call, status=400, mentions=("user_id", "supported")
        )
        ok(f"{what} with an unsupported filter: 400, {str(error)[:120]!r}")


async def async_steps(url, key):
    user = new_user("async")
    client = AsyncMemoryClient(api_key=key, host=url)
    ok("AsyncMemoryClient constructed (GET /v1/ping/)")
    async with client:
        added = check_added(await client.add(MESSAGES, user_id=user), "async add")
        added_ids = {r["id"] for r in added}
        ok(f"async add: {len(added)} result(s)")

        found = results_of(
            await client.search(DOG_QUERY, filters={"user_id": user}), "async search"
        )
        check(found, f"async search right after add found nothing for {DOG_QUERY!r}")
        dog = dog_memory(found, "async search")
        ok(f"async search: {dog['memory']!r}")

        listed = results_of(await client.get_all(filters={"user_id": user}), "async get_all")
        listed_ids = {m.get("id") for m in listed}
        check(
            added_ids <= listed_ids,
            f"async get_all: missing {sorted(added_ids - listed_ids)}: {listed!r}",
        )
        ok(f"async get_all: {len(listed)} memories")

        await client.delete_all(user_id=user)
        left = results_of(
            await client.get_all(filters={"user_id": user}), "async get_all after delete_all"
        )
        check(left == [], f"async get_all after delete_all still lists {left!r}")
        ok("async delete_all: get_all empty")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="PIKA Memory's base URL")
    parser.add_argument("--key", required=True, help="an API key's secret")
    parser.add_argument("--other-key", required=True, help="another tenant's API key's secret")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    try:
        sync_steps(url, args.key, args.other_key)
        asyncio.run(async_steps(url, args.key))
    except StepFailed as failure:
        print(f"FAIL  {failure}", file=sys.stderr, flush=True)
        return 1
    except Exception as error:
        traceback.print_exc()
        print(f"FAIL  unexpected error: {error!r}", file=sys.stderr, flush=True)
        return 1
    print("mem0ai works against PIKA Memory", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
