"""A client of the user-record API in the prototype's style: a loop of
requests.post(base + "/createUser", json={...}) with a random name,
username and email (each within the API's lengths), one CSV row per
request, then checks that every user reads back through /getUser and
that /getAllUsers, paged with a small limit, lists each of them once and
counts them. Run by scripts/smoke-up against scripts/up's stack:

  user_client.py BASE_URL CSV_PATH [USERS]

CSV columns: name,username,email,response_time (seconds). Exits 1 on the
first mismatch, naming it.
"""

import csv
import random
import string
import sys
import time

import requests

USERNAME_CHARS = string.ascii_letters + string.digits + "_.-"
PAGE_LIMIT = 7


def random_user(i, rng):
    """Name 2-32, username 5-20 (unique: ends with i), email 11-35."""
    name = "".join(rng.choice(string.ascii_letters + " ") for _ in range(rng.randint(2, 32)))
    suffix = f"-{i}"
    stem = "".join(rng.choice(USERNAME_CHARS) for _ in range(rng.randint(5, 20) - len(suffix)))
    local = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 20)))
    email = f"{local}@example.com"
    return {"name": name, "username": stem + suffix, "email": email}


def fail(message):
    print(f"user_client: {message}", file=sys.stderr)
    sys.exit(1)


def create(base, csv_path, count, rng):
    users = {}
    with open(csv_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["name", "username", "email", "response_time"])
        for i in range(count):
            user = random_user(i, rng)
            started = time.monotonic()
            r = requests.post(base + "/createUser", json=user, timeout=10)
            elapsed = time.monotonic() - started
            if r.status_code != 201 or r.json() != {"message": True, "status": 201}:
                fail(f"createUser {user}: {r.status_code} {r.text}")
            out.writerow([user["name"], user["username"], user["email"], f"{elapsed:.6f}"])
            users[user["username"]] = user
    return users


def check_reads(base, users):
    for username, user in users.items():
        r = requests.post(base + "/getUser", json={"username": username}, timeout=10)
        if r.status_code != 200 or r.json() != {"data": user, "message": "user fetched"}:
            fail(f"getUser {username}: {r.status_code} {r.text}")


def check_listing(base, users):
    listed, cursor, pages = [], "", 0
    while True:
        r = requests.get(base + "/getAllUsers",
                         params={"cursor": cursor, "limit": PAGE_LIMIT}, timeout=10)
        body = r.json()
        if r.status_code != 200 or body.get("status") != 200:
            fail(f"getAllUsers cursor={cursor!r}: {r.status_code} {r.text}")
        data = body["data"]
        if len(data["users"]) > PAGE_LIMIT:
            fail(f"a page of {len(data['users'])} users over limit {PAGE_LIMIT}")
        if data["count"] != len(users):
            fail(f"getAllUsers counts {data['count']}, {len(users)} were created")
        listed.extend(data["users"])
        pages += 1
        if data["next_cursor"] is None:
            break
        cursor = data["next_cursor"]
    by_name = {u["username"]: u for u in listed}
    if len(by_name) != len(listed):
        fail("a user was listed twice")
    if by_name != users:
        missing = sorted(set(users) - set(by_name))[:5]
        extra = sorted(set(by_name) - set(users))[:5]
        fail(f"the listing differs: missing {missing}, extra {extra}")
    return pages


def main():
    base, csv_path = sys.argv[1].rstrip("/"), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    rng = random.Random()
    started = time.monotonic()
    users = create(base, csv_path, count, rng)
    check_reads(base, users)
    pages = check_listing(base, users)
    print(f"requests {requests.__version__}: {count} users created (rows in {csv_path}), "
          f"each read back, listed once in {pages} pages of {PAGE_LIMIT} and counted "
          f"({time.monotonic() - started:.2f} s)")


if __name__ == "__main__":
    main()
