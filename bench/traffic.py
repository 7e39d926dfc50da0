"""The requests the load tools send, written to a file each tool replays line by line.

One implementation of the traffic mix serves wrk (through bench/lua/replay.lua) and the
open-loop client (bench/openloop.py). A line is `METHOD <tab> PATH <tab> BODY`.

Identify mix (people from bench/datagen.py):
  60 % a returning user on their own device (plan, spend, newsletter, app version change)
  10 % a known user on a device never seen before (a new visitor joins the profile)
   5 % a brand-new user on a new device (new profile, new catalogue counts)
  15 % an anonymous visitor (half with an anonymous profile, half sending their first
       attributes)
  10 % an anonymous visitor identified for the first time (its profile joins the user's)
Like the tracking script, every call carries a fresh message id. Every call also sends
one of eight `bench_slot<k>` keys whose value names the run, so that after the run every
acknowledged key can be looked up (the lost-keys counter).
"""

import json
import random
from pathlib import Path

from bench.datagen import APP_VERSIONS, COUNTRIES, REFERRERS, URLS, vid

PLANS = ["free", "basic", "pro", "team", "enterprise"]
SLOTS = 8


def _identified(rng: random.Random, n: int) -> int:
    k = rng.randrange(n)
    return k - 1 if k % 5 == 4 else k


def _anonymous(rng: random.Random, n: int) -> int:
    """An anonymous profile's index from the first half of them (the second half is left
    for pgbench's one-shot calls, see bench/capture.py)."""
    return 5 * rng.randrange(max(n // 10, 1)) + 4


def _unprofiled(rng: random.Random, n: int) -> int:
    """A device that never sent attributes, from the first half of them."""
    return 2 * n + rng.randrange(max(n // 10, 1))


def identify_body(rng: random.Random, n: int, tag: str, seq: int) -> dict:
    r = rng.random()
    slot = {f"bench_slot{seq % SLOTS}": f"{tag}-{seq}"}
    person = {
        "plan": rng.choice(PLANS[:4]),
        "total_spend": round(rng.lognormvariate(4.3, 1.1), 2),
        "newsletter": rng.random() < 0.6,
        "app_version": rng.choice(APP_VERSIONS),
    }
    fresh = f"n{tag}x{seq:016d}"
    if r < 0.60:
        k = _identified(rng, n)
        visitor, user, attributes = vid(k), f"u{k}", person
    elif r < 0.70:
        k = _identified(rng, n)
        visitor, user, attributes = fresh, f"u{k}", person
    elif r < 0.75:
        visitor, user = fresh, f"new{tag}x{seq}"
        attributes = {
            "email": f"new{seq}@{tag}.example.com",
            "plan": "free",
            "total_spend": 0,
            "signup_date": "2026-06-20T10:00:00.000Z",
            "country": rng.choice(COUNTRIES)[0],
        }
    elif r < 0.90:
        fresh_device = rng.random() < 0.5
        visitor = vid(_unprofiled(rng, n)) if fresh_device else vid(_anonymous(rng, n))
        user = None
        attributes = {"ab_test": rng.choice(["variant-A", "variant-B"]), "referrer": "google"}
    else:
        k = _anonymous(rng, n)
        visitor, user, attributes = vid(k), f"a{k}", {**person, "referrer": rng.choice(REFERRERS)}
    return {
        "visitor_id": visitor,
        "user_id": user,
        "attributes": {**attributes, **slot},
        # The tracking script sends a fresh message id with every call.
        "message_id": f"m{tag}x{seq:016d}",
    }


def write_identify(path: Path, *, url_path: str, n: int, tag: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        for seq in range(count):
            body = json.dumps(identify_body(rng, n, tag, seq), separators=(",", ":"))
            out.write(f"POST\t{url_path}\t{body}\n")


def write_widgets(path: Path, *, site_key: str, n: int, count: int, seed: int) -> None:
    """Widget decisions for identified, anonymous and never-identified visitors."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for _ in range(count):
            r = rng.random()
            if r < 0.7:
                visitor = vid(_identified(rng, n))
            elif r < 0.85:
                visitor = vid(_anonymous(rng, n))
            else:
                visitor = vid(_unprofiled(rng, n))
            url = rng.choice(URLS)
            out.write(f"GET\t/api/v1/sites/{site_key}/widgets?visitor_id={visitor}&url={url}\t\n")


def write_get(path: Path, *, url_path: str) -> None:
    path.write_text(f"GET\t{url_path}\t\n")


def read_lines(path: Path) -> list[tuple[str, str, str]]:
    lines = []
    for line in path.read_text().splitlines():
        method, url_path, body = line.split("\t", 2)
        lines.append((method, url_path, body))
    return lines
