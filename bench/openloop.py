"""Open-loop load at a constant rate: `python -m bench.openloop --lines F --rate R ...`.

Request i is due at start + i / rate whether or not earlier ones have answered, and its
latency is counted from that due time (no coordinated omission: a stalled server shows up
as latency, not as fewer requests). Each request uses its own connection, as gunicorn's
sync workers close the connection after every answer anyway. Writes a JSON summary to
--out (and the identify acknowledgements to --out + ".acks" with --track).
"""

import argparse
import asyncio
import json
import re
import resource
import time
from pathlib import Path

from bench.traffic import read_lines

USER_RE = re.compile(rb'"user_id":"([^"]*)"')
VISITOR_RE = re.compile(rb'"visitor_id":"([^"]*)"')
SLOT_RE = re.compile(rb'"(bench_slot\d)"')


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(args) -> dict:
    lines = read_lines(Path(args.lines))
    requests = []
    for method, path, body in lines:
        payload = body.encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
            f"Connection: close\r\n"
            + (
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                if body
                else ""
            )
            + "\r\n"
        )
        requests.append(head.encode() + payload)
    total = int(args.rate * args.duration)
    limit = asyncio.Semaphore(args.max_inflight)
    latencies: list[float] = []
    service: list[float] = []
    statuses: dict[str, int] = {}
    acks: list[str] = []
    errors = {"connect": 0, "read": 0, "timeout": 0}

    async def one(index: int, due: float) -> None:
        async with limit:
            sent = loop.time()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.timeout
                )
            except (OSError, TimeoutError):
                errors["connect"] += 1
                return
            try:
                writer.write(requests[index % len(requests)])
                raw = await asyncio.wait_for(reader.read(), args.timeout)
            except TimeoutError:
                errors["timeout"] += 1
                return
            except OSError:
                errors["read"] += 1
                return
            finally:
                writer.close()
            finished = loop.time()
        status = raw[9:12].decode() if raw.startswith(b"HTTP/") else "???"
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(finished - due)
        service.append(finished - sent)
        if args.track and status == "200":
            user = USER_RE.search(raw)
            visitor = VISITOR_RE.search(raw)
            slot = SLOT_RE.search(raw)
            acks.append("|".join((m.group(1).decode() if m else "") for m in (user, visitor, slot)))

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    late = 0
    for index in range(total):
        due = start + index / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            late += 1
        tasks.append(asyncio.create_task(one(index, due)))
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout + 5)
    elapsed = loop.time() - start
    latencies.sort()
    service.sort()
    if args.track:
        Path(args.out + ".acks").write_text("".join(f"{a}\n" for a in acks))
    return {
        "requests": len(latencies),
        "scheduled": total,
        "rate_target": args.rate,
        "rate_achieved": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "late_sends": late,
        "statuses": statuses,
        "errors": errors,
        "latency_ms": {
            f"p{int(p * 100)}": round(percentile(latencies, p) * 1000, 2)
            for p in (0.5, 0.9, 0.95, 0.99)
        }
        | {"max": round(latencies[-1] * 1000, 2) if latencies else 0.0},
        "service_ms": {
            f"p{int(p * 100)}": round(percentile(service, p) * 1000, 2) for p in (0.5, 0.99)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--max-inflight", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--track", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(run(args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    result["client_wall_seconds"] = round(time.monotonic() - started, 3)
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
