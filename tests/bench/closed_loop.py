"""An HTTP load generator. Closed loop (default): N connections, each sending its next request
as soon as the previous one answers. Paced (--rate R): R requests per second on a fixed
schedule, whatever the latency (at most N in flight). Runs in its own process so it does not
share an event loop with the stack; prints a progress line with the rate every two seconds."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def run(url_template: str, method: str, body: str | None, token: str | None,
              ids: list[str], concurrency: int, duration: float, rate: float | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_id = iter(ids)
    deadline = time.monotonic() + duration

    async def one_request(session: aiohttp.ClientSession) -> bool:
        item = next(next_id, None) if "{id}" in url_template else ""
        if item is None:
            return False  # ran out of fresh ids
        started = time.perf_counter()
        async with session.request(method, url_template.replace("{id}", item), data=body,
                                   headers=headers) as response:
            await response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        return True

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline and await one_request(session):
            pass

    async def paced(session: aiohttp.ClientSession) -> None:
        in_flight = asyncio.Semaphore(concurrency)
        tasks = []

        async def limited() -> None:
            async with in_flight:
                await one_request(session)

        start = time.monotonic()
        for n in range(int(duration * rate)):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(limited()))
        await asyncio.gather(*tasks)

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
        if rate:
            await paced(session)
        else:
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
    parser.add_argument("--rate", type=float, help="paced requests per second instead of a closed loop")
    args = parser.parse_args()
    ids = open(args.ids_file).read().split() if args.ids_file else []
    result = asyncio.run(run(args.url, args.method, args.body, args.token, ids, args.concurrency,
                             args.duration, args.rate))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
