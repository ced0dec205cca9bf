"""A closed-loop HTTP load generator: N connections, each sending its next request as soon as
the previous one answers. Runs in its own process so it does not share an event loop with the
stack; prints a progress line with the rate every two seconds."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def run(url_template: str, method: str, body: str | None, token: str | None,
              ids: list[str], concurrency: int, duration: float) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_id = iter(ids)
    deadline = time.monotonic() + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            item = next(next_id, None) if "{id}" in url_template else ""
            if item is None:
                return  # ran out of fresh ids
            started = time.perf_counter()
            async with session.request(method, url_template.replace("{id}", item), data=body,
                                       headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    async def progress() -> None:
        last, last_t = 0, time.monotonic()
        while True:
            await asyncio.sleep(2)
            now = time.monotonic()
            print(f"  ... {len(latencies)} requests, {(len(latencies) - last) / (now - last_t):.0f} req/s",
                  file=sys.stderr, flush=True)
            last, last_t = len(latencies), now

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        reporter = asyncio.ensure_future(progress())
        started = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        reporter.cancel()
    return {"elapsed": elapsed, "latencies": latencies, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="may contain {id}, replaced by one id per request")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body")
    parser.add_argument("--token")
    parser.add_argument("--ids-file")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--duration", type=float, default=15)
    args = parser.parse_args()
    ids = open(args.ids_file).read().split() if args.ids_file else []
    result = asyncio.run(run(args.url, args.method, args.body, args.token, ids, args.concurrency, args.duration))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
