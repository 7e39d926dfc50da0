"""B3: the SQL one identify call emits, captured from the app and replayed by pgbench.

For each kind of call in the traffic mix (bench/traffic.py) one real request goes through
Django's test client against the bench database, with every statement recorded (SQL and
parameters, and whether it ran inside the call's transaction). The statements become a
pgbench script: the same text with the device id, user id and message id drawn per
transaction, and the visitor and profile keys taken from the statements' own RETURNING
(`\\gset`), so each transaction touches other rows, exactly as the app would.

One-shot calls (a device's first attributes, an anonymous profile joining a user) take
their device from a sequence over the half of the population the HTTP load never uses;
that `SELECT nextval(...)` is the only statement pgbench runs that identify does not.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from django.test import Client

from bench.datagen import vid
from bench.traffic import PLANS

# (name, weight): the same mix as bench/traffic.py (percent x 2).
KINDS = [
    ("returning", 120),
    ("new_device", 20),
    ("new_user", 10),
    ("anon_profile", 15),
    ("anon_first", 15),
    ("stitch", 20),
]


@dataclass
class Statement:
    sql: str
    params: tuple
    in_transaction: bool


class Recorder:
    def __init__(self):
        self.statements: list[Statement] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(Statement(sql, tuple(params or ()), connection.in_atomic_block))
        return execute(sql, params, many, context)


def _visitor_row(visitor_id: str) -> tuple[int, int | None] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, profile_id FROM identity_visitor WHERE visitor_id = %s", [visitor_id]
        )
        return cursor.fetchone()


def capture_call(*, site_key: str, body: dict) -> dict:
    """Send one identify request in-process; return its statements and the keys it used."""
    before = _visitor_row(body["visitor_id"])
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        response = Client().post(
            f"/api/v1/sites/{site_key}/identify",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_HOST="127.0.0.1",
        )
    if response.status_code != 200:
        raise RuntimeError(f"capture call failed: {response.status_code} {response.content!r}")
    after = _visitor_row(body["visitor_id"])
    return {
        "statements": recorder.statements,
        "visitor_pk": after[0],
        "profile_before": before[1] if before else None,
        "profile_after": after[1],
    }


def _gset(sql: str) -> str | None:
    """The `\\gset` prefix for statements whose RETURNING later statements use."""
    if "RETURNING" not in sql:
        return None
    if sql.startswith('INSERT INTO "identity_visitor"'):
        return "v_"
    if sql.startswith('INSERT INTO "identity_profile"'):
        return "p_" if "ON CONFLICT" in sql else "n_"
    return None


def script_for(
    capture: dict, *, strings: dict[str, str], preamble: list[str]
) -> tuple[str, list[str]]:
    """A pgbench script for one captured call. `strings` maps literal values (device id,
    user id, message id) to the SQL expressions pgbench substitutes for them."""
    visitor_pk = capture["visitor_pk"]
    before, after = capture["profile_before"], capture["profile_after"]
    keys: dict[int, str] = {visitor_pk: ":v_id"}
    if before is not None:
        keys[before] = ":v_profile_id"
    if after is not None and after != before:
        creates_anonymous = any(
            _gset(s.sql) == "n_" for s in capture["statements"] if s.in_transaction
        )
        keys[after] = ":n_id" if creates_anonymous else ":p_id"
    lines = list(preamble)
    readable = []
    in_transaction = False
    for statement in capture["statements"]:
        tokens: dict[str, str] = {}
        params = []
        for value in statement.params:
            mapped = None
            if isinstance(value, str) and value in strings:
                mapped = strings[value]
            elif type(value) is int and value in keys:
                mapped = keys[value]
            if mapped is None:
                params.append(value)
            else:
                token = f"__bench_{len(tokens)}__"
                tokens[token] = mapped
                params.append(token)
        text = connection.ops.compose_sql(statement.sql, params)
        for token, expression in tokens.items():
            text = text.replace(f"'{token}'", expression)
        if statement.in_transaction and not in_transaction:
            lines.append("BEGIN;")
            in_transaction = True
        if not statement.in_transaction and in_transaction:
            lines.append("COMMIT;")
            in_transaction = False
        prefix = _gset(statement.sql)
        lines.append(f"{text} \\gset {prefix}" if prefix else f"{text};")
        readable.append(connection.ops.compose_sql(statement.sql, statement.params))
    if in_transaction:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n", readable


def _person(seq: int) -> dict:
    return {
        "plan": PLANS[seq % 4],
        "total_spend": 120.5 + seq,
        "newsletter": True,
        "app_version": "4.0.2",
        f"bench_slot{seq % 8}": f"capture-{seq}",
    }


def _attributes(call: dict, seq: int) -> dict:
    if call["user_id"]:
        return _person(seq)
    return {"ab_test": "variant-A", "referrer": "google", f"bench_slot{seq % 8}": "capture"}


def build_scripts(*, site_key: str, n: int, out_dir: Path) -> dict:
    """Capture one call of each kind and write bench_<kind>.sql pgbench scripts.

    Returns {kind: {"script": path, "weight": w, "statements": [readable SQL]}}.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tenth = max(n // 10, 1)
    # Entities for the capture itself: the last of the halves pgbench draws from.
    anon_k = 5 * (2 * tenth - 1) + 4
    anon_k2 = 5 * (2 * tenth - 2) + 4
    first_j = 2 * n + 2 * tenth - 1
    warm = f"v{'w' * 31}"
    fresh = "nbv" + "0" * 28 + "1"
    message = "mb" + "0" * 19 + "1"
    identified_k = 5 * (n // 5 // 2) + 1
    calls = {
        "returning": {"visitor_id": vid(identified_k), "user_id": f"u{identified_k}"},
        "new_device": {"visitor_id": fresh, "user_id": f"u{identified_k}"},
        "new_user": {"visitor_id": fresh + "n", "user_id": "nbu1"},
        "anon_profile": {"visitor_id": vid(anon_k2), "user_id": None},
        "anon_first": {"visitor_id": vid(first_j), "user_id": None},
        "stitch": {"visitor_id": vid(anon_k), "user_id": f"a{anon_k}"},
    }
    k_identified = "\\set k 5 * random(0, :n5 - 1) + random(0, 3)"
    k_anonymous = "\\set k 5 * random(0, :n10 - 1) + 4"
    draw = "\\set r random(1, 1000000000000)"
    seq = "SELECT nextval('{name}') AS j \\gset"
    common = [f"\\set n5 {max(n // 5, 1)}", f"\\set n10 {tenth}", draw]
    visitor_k = "('v' || lpad((:k)::text, 31, '0'))"
    fresh_expr = "('nbv' || lpad((:r)::text, 29, '0'))"
    preambles = {
        "returning": [k_identified],
        "new_device": [k_identified],
        "new_user": [],
        "anon_profile": [k_anonymous],
        "anon_first": [seq.format(name="bench_anon_first")],
        "stitch": [seq.format(name="bench_stitch"), "\\set k 5 * :j + 4"],
    }
    expressions = {
        "returning": {vid(identified_k): visitor_k, f"u{identified_k}": "('u' || :k)"},
        "new_device": {fresh: fresh_expr, f"u{identified_k}": "('u' || :k)"},
        "new_user": {fresh + "n": f"({fresh_expr} || 'n')", "nbu1": "('nbu' || :r)"},
        "anon_profile": {vid(anon_k2): visitor_k},
        "anon_first": {vid(first_j): "('v' || lpad((2 * :n + :j)::text, 31, '0'))"},
        "stitch": {vid(anon_k): visitor_k, f"a{anon_k}": "('a' || :k)"},
    }
    # Steady state first: every key the calls send is in the catalogue already, and the
    # returning user and the anonymous profile have sent these keys before.
    everything = {**_person(0), "ab_test": "variant-A", "referrer": "google"}
    everything.update({f"bench_slot{slot}": "capture" for slot in range(8)})
    capture_call(
        site_key=site_key,
        body={"visitor_id": warm, "user_id": "bench-warm", "attributes": everything},
    )
    numbers = {kind: number for number, (kind, _) in enumerate(KINDS, start=1)}
    for kind in ("returning", "anon_profile"):
        capture_call(
            site_key=site_key,
            body={**calls[kind], "attributes": _attributes(calls[kind], numbers[kind])},
        )
    scripts = {}
    for number, (kind, weight) in enumerate(KINDS, start=1):
        body = {
            **calls[kind],
            "attributes": _attributes(calls[kind], number),
            "message_id": message[:-1] + str(number),
        }
        captured = capture_call(site_key=site_key, body=body)
        strings = {**expressions[kind], body["message_id"]: "('mb' || lpad((:r)::text, 20, '0'))"}
        preamble = [*common, f"\\set n {n}", *preambles[kind]]
        text, readable = script_for(captured, strings=strings, preamble=preamble)
        path = out_dir / f"bench_{kind}.sql"
        path.write_text(text)
        scripts[kind] = {"script": str(path), "weight": weight, "statements": readable}
    return scripts


def sequences_sql(n: int) -> list[str]:
    tenth = max(n // 10, 1)
    low, high = tenth, max(2 * tenth - 3, tenth + 1)
    return [
        f"DROP SEQUENCE IF EXISTS {name}; CREATE SEQUENCE {name} MINVALUE {low} "
        f"START {low} MAXVALUE {high} CYCLE"
        for name in ("bench_anon_first", "bench_stitch")
    ]


STATEMENT_RE = re.compile(r"^(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT)", re.MULTILINE)
