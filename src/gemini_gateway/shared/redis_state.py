"""Shared state on Redis: pub/sub pushes changes into every replica's memory; Redis keeps them
for replicas that start later or come back; one Lua token bucket per rate-limited client.

Keys, all under the namespace `prefix` (REDIS_URL's `?prefix=`, default "gw"):
    {p}:events          pub/sub channel: credential changes, admin changes, session ends, wrong tokens,
                        in-flight counts and turns (load.py)
    {p}:cool            hash "credential id|model" -> cooldown end (epoch seconds)
    {p}:disabled        hash credential id -> health reason
    {p}:sessions        hash sha256(session id) -> admin session record (JSON, with its expiry)
    {p}:rate:{client}   hash of one token bucket (tokens, when), expiring after idle minutes
    {p}:quota:{credential id}|{model}
                        quota counters (pool.quota) of the last 61 s, one second a field:
                        "c<second>" calls, "t<second>" input tokens; expiring after idle minutes
    {p}:quota:{credential id}|{model}:{day end}
                        calls on the quota day (ending at midnight Pacific), expiring after it
    {p}:replicas        sorted set replica id -> last heartbeat, to divide limits when Redis is gone
    {p}:learned         hash "credential id|model" -> limits learned from a 429 (JSON {rpm, tpm, rpd})
    {p}:executors       hash credential id -> an executor tab's registry line (shared/executors.py)
    {p}:brake:salt      the key of the wrong-token brake's prefix hashes, the same on every replica

When Redis cannot be reached every call here returns at once (nothing waits on a dead server),
the receiver is told to degrade (local limits divided by the replicas last seen), and the
listener keeps reconnecting; once back, Redis's state is pulled and the local one pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from gemini_gateway.shared import events
from gemini_gateway.shared.events import Event

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from gemini_gateway.pool.quota import Charge

log = logging.getLogger("gemini_gateway.shared")

RETRY_SECONDS = 0.5
HEARTBEAT_SECONDS = 1.0
REPLICA_TTL = 5.0
QUEUE_LIMIT = 10_000

# One bucket per client: `limit` calls a minute, refilled continuously, bursts up to `limit`;
# Redis's own clock, so replicas on machines whose clocks differ still share one minute.
BUCKET = """
local limit = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = limit / 60.0
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or limit
local at = tonumber(saved[2]) or now
tokens = math.min(limit, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 180)
return tostring(wait)
"""


# The quota counters of one credential x model (pool.quota): count the call only if it fits every
# limit given across all replicas. The window is the last 61 whole seconds of Redis's clock (a
# call in second s has surely left a 60 s window at s + 61): bounded work at any rate, and
# never more than N calls in any 60 s. ARGV: rpm, tpm, rpd (-1: none), tokens, day end (epoch).
# Returns {"0", second} when counted, {seconds to wait, -1} when not.
QUOTA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local sec = tonumber(t[1])
local rpm, tpm, rpd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, day_ends = tonumber(ARGV[4]), tonumber(ARGV[5])
local raw = redis.call('HGETALL', KEYS[1])
local buckets, stale = {}, {}
for i = 1, #raw, 2 do
  local s = tonumber(string.sub(raw[i], 2))
  if s == nil or s + 61 <= now then
    stale[#stale + 1] = raw[i]
  else
    local b = buckets[s] or {0, 0}
    if string.sub(raw[i], 1, 1) == 'c' then b[1] = b[1] + tonumber(raw[i + 1]) else b[2] = b[2] + tonumber(raw[i + 1]) end
    buckets[s] = b
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
local order, count, total = {}, 0, 0
for s, b in pairs(buckets) do order[#order + 1] = s; count = count + b[1]; total = total + b[2] end
table.sort(order)
local wait = 0
if rpd >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + 1 > rpd then
  wait = math.max(wait, day_ends - now)
end
if rpm >= 0 and count + 1 > rpm then
  local left, fits = count, now + 61
  for _, s in ipairs(order) do
    left = left - buckets[s][1]
    if left + 1 <= rpm then fits = s + 61; break end
  end
  wait = math.max(wait, fits - now)
end
if tpm >= 0 and total > 0 and total + tokens > tpm then
  local left, fits = total, now + 61
  for _, s in ipairs(order) do
    left = left - buckets[s][2]
    if left + tokens <= tpm or left <= 0 then fits = s + 61; break end
  end
  wait = math.max(wait, fits - now)
end
if wait > 0 then return {tostring(wait), -1} end
redis.call('HINCRBY', KEYS[1], 'c' .. sec, 1)
redis.call('HINCRBY', KEYS[1], 't' .. sec, tokens)
redis.call('EXPIRE', KEYS[1], 180)
redis.call('INCR', KEYS[2])
redis.call('EXPIREAT', KEYS[2], math.floor(day_ends) + 3600)
return {'0', sec}
"""
# A placed call corrected: ARGV second, calls (0 or -1), tokens; nothing once its second has gone.
QUOTA_ADJUST = """
if redis.call('HEXISTS', KEYS[1], 'c' .. ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'c' .. ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[1], 't' .. ARGV[1], ARGV[3])
end
if tonumber(ARGV[2]) < 0 and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
"""
NO_LIMIT = -1


class Receiver(Protocol):
    def event(self, event: Event) -> None:
        """Apply what another replica sent (or what Redis held, at a resync)."""

    def snapshot(self) -> list[Event]:
        """This replica's cooldowns and health disables, pushed to Redis after an outage."""

    def degraded(self, replicas: int | None) -> None:
        """Redis is gone (count locally, as one of `replicas`), or back (None)."""


def split_url(url: str) -> tuple[str, str]:
    """The URL redis-py understands and the key namespace (`?prefix=`, which it does not)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    prefix = next((v for k, v in query if k == "prefix"), "gw")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def session_key(session_id: str) -> str:
    """Session ids are bearer secrets: Redis keeps only a digest of each."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


class RedisState:
    kind = "redis"

    def __init__(self, url: str, replica: str, receiver: Receiver) -> None:
        from redis.asyncio import Redis  # only with REDIS_URL set: the package is an optional extra

        plain, self.prefix = split_url(url)
        self.replica = replica
        self.receiver = receiver
        self.client: Redis = Redis.from_url(plain, socket_timeout=2.0, socket_connect_timeout=1.0)
        self.channel = f"{self.prefix}:events"
        self._queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self._down: str | None = "not started"
        self._bucket: AsyncScript | None = None
        self._quota: AsyncScript | None = None
        self._quota_adjust: AsyncScript | None = None
        self.replicas = 1
        self.brake_salt: bytes | None = None

    # -- what the gateway calls ---------------------------------------------------------------

    def send(self, event: Event) -> None:
        if self._down is not None:
            return  # kept locally; pushed with the rest of the snapshot once Redis is back
        with contextlib.suppress(asyncio.QueueFull):  # a stalled Redis must not grow memory
            self._queue.put_nowait(event)

    def announce(self, topic: str) -> None:
        self.send({"type": "changed", "topic": topic})

    async def take(self, client_id: str, limit: int) -> float | None:
        if self._down is not None or self._bucket is None:
            return None
        try:
            wait = await self._bucket(keys=[f"{self.prefix}:rate:{client_id}"], args=[limit])
        except Exception as exc:  # any client or connection error: count locally from now on
            self._fail(exc)
            return None
        return float(wait)

    async def place(self, charge: Charge, limits: dict[str, int], tokens: int) -> float | None:
        if self._down is not None or self._quota is None:
            return None
        keys = self._quota_keys(charge)
        args = [limits.get(name, NO_LIMIT) for name in ("rpm", "tpm", "rpd")]
        try:
            wait, second = await self._quota(keys=keys, args=[*args, tokens, charge.day_ends])
        except Exception as exc:  # count locally from now on, as for client rate limits
            self._fail(exc)
            return None
        if int(second) >= 0:
            charge.shared, charge.shared_tokens = int(second), tokens
            return 0.0
        return float(wait)

    def adjust(self, charge: Charge, calls: int, tokens: int) -> None:
        if charge.shared is not None:
            self.send(
                {"type": "quota", "keys": self._quota_keys(charge), "args": [charge.shared, calls, tokens]}
            )

    def learned(self, credential_id: str, model: str, limits: dict[str, int]) -> None:
        self.send(events.learned(credential_id, model, limits))

    def _quota_keys(self, charge: Charge) -> list[str]:
        minute = f"{self.prefix}:quota:{charge.credential_id}|{charge.model}"
        return [minute, f"{minute}:{int(charge.day_ends)}"]

    async def put_session(self, session_id: str, record: dict[str, Any], expires: float) -> None:
        if self._down is None:
            with contextlib.suppress(Exception):  # a session works on this replica regardless
                data = orjson.dumps({**record, "expires": expires})
                await self.client.hset(f"{self.prefix}:sessions", session_key(session_id), data)

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        if self._down is not None:
            return None
        try:
            raw = await self.client.hget(f"{self.prefix}:sessions", session_key(session_id))
        except Exception as exc:
            self._fail(exc)
            return None
        record: dict[str, Any] | None = orjson.loads(raw) if raw else None
        return record if record is not None and record["expires"] > time.time() else None

    async def first_use(self, key: str, seconds: float) -> bool | None:
        if self._down is not None:
            return None
        try:
            taken = await self.client.set(f"{self.prefix}:once:{key}", b"1", nx=True, ex=max(1, int(seconds)))
        except Exception as exc:
            self._fail(exc)
            return None
        return bool(taken)

    async def drop_session(self, session_id: str) -> None:
        key = session_key(session_id)
        if self._down is None:
            with contextlib.suppress(Exception):
                await self.client.hdel(f"{self.prefix}:sessions", key)
        self.send({"type": "session_end", "key": key})

    def problem(self) -> str | None:
        if self._down is None:
            return None
        return (
            f"shared state: Redis unreachable ({self._down}); local state, limits divided by {self.replicas}"
        )

    async def start(self) -> None:
        self._bucket = self.client.register_script(BUCKET)
        self._quota = self.client.register_script(QUOTA)
        self._quota_adjust = self.client.register_script(QUOTA_ADJUST)
        try:
            await self._connected()
        except Exception as exc:
            self._fail(exc)
        self._tasks = [
            asyncio.create_task(self._listen(), name="shared-listen"),
            asyncio.create_task(self._write(), name="shared-write"),
            asyncio.create_task(self._heartbeat(), name="shared-heartbeat"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            # Cancelled again until it ends: a cancel that lands inside a Redis command can be
            # swallowed by the client, which would leave the loop waiting on its queue for ever.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        with contextlib.suppress(Exception):
            await self.client.zrem(f"{self.prefix}:replicas", self.replica)
        with contextlib.suppress(Exception):
            await self.client.aclose()

    # -- keeping in step ----------------------------------------------------------------------

    async def _connected(self) -> None:
        """(Re)joined: learn what Redis holds, then hand it what this replica learned alone."""
        await self.client.set(f"{self.prefix}:brake:salt", secrets.token_bytes(16), nx=True)
        self.brake_salt = _bytes(await self.client.get(f"{self.prefix}:brake:salt"))
        now = time.time()
        for field, until in (await self.client.hgetall(f"{self.prefix}:cool")).items():
            cid, _, key = _text(field).partition("|")
            if float(until) > now:
                self.receiver.event({"type": "cool", "cid": cid, "key": key, "until": float(until)})
        for held, reason in (await self.client.hgetall(f"{self.prefix}:disabled")).items():
            self.receiver.event({"type": "disabled", "cid": _text(held), "reason": _text(reason)})
        for field, limits in (await self.client.hgetall(f"{self.prefix}:learned")).items():
            cid, _, model = _text(field).partition("|")
            self.receiver.event(events.learned(cid, model, orjson.loads(limits)))
        was_down = self._down
        self._down = None
        await self._beat()
        for event in self.receiver.snapshot():
            await self._store(event)
        if was_down != "not started":
            log.warning("shared state: Redis is back; resynchronised (%d replicas)", self.replicas)
        self.receiver.degraded(None)

    def _fail(self, exc: BaseException) -> None:
        if self._down is None:
            self._down = type(exc).__name__
            log.error(
                "shared state: Redis unreachable (%s): this replica counts limits locally, divided by "
                "the %d replicas last seen, until it is back",
                self._down,
                self.replicas,
            )
            self.receiver.degraded(self.replicas)
        elif self._down == "not started":
            self._down = type(exc).__name__
            log.error(
                "shared state: Redis unreachable at start (%s); local state until it answers", self._down
            )
            self.receiver.degraded(self.replicas)

    async def _listen(self) -> None:
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if self._down is not None:
                    await self._connected()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: degrade, then try again
                self._fail(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RETRY_SECONDS)

    def _deliver(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict) and message.get("from") != self.replica:
            self.receiver.event(message)

    async def _write(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._store(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc)

    async def _store(self, event: Event) -> None:
        """Keep what later replicas need to know, and tell the ones running now."""
        if event.get("type") == "quota":  # a correction of this replica's own counting: no one to tell
            if self._quota_adjust is not None:
                await self._quota_adjust(keys=event["keys"], args=event["args"])
            return
        if event.get("type") == "load":  # nothing kept (load.py): one command, without a pipeline
            await self.client.publish(self.channel, orjson.dumps({**event, "from": self.replica}))
            return
        async with self.client.pipeline(transaction=False) as pipe:
            what = event.get("type")
            if what == "cool" and event.get("until", 0) > time.time():
                pipe.hset(f"{self.prefix}:cool", f"{event['cid']}|{event['key']}", event["until"])
            elif what == "disabled":
                pipe.hset(f"{self.prefix}:disabled", event["cid"], event.get("reason") or "")
            elif what in ("healed", "enabled"):
                pipe.hdel(f"{self.prefix}:disabled", event["cid"])
            elif what == "learned":  # merged: another dimension learned later keeps this one
                field = f"{event['cid']}|{event['model']}"
                known = await self.client.hget(f"{self.prefix}:learned", field)
                merged = {**(orjson.loads(known) if known else {}), **event["limits"]}
                pipe.hset(f"{self.prefix}:learned", field, orjson.dumps(merged))
            pipe.publish(self.channel, orjson.dumps({**event, "from": self.replica}))
            await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._down is not None:
                continue
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc)

    async def _beat(self) -> None:
        now = time.time()
        key = f"{self.prefix}:replicas"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {self.replica: now})
            pipe.zremrangebyscore(key, 0, now - REPLICA_TTL)
            pipe.zcard(key)
            results = await pipe.execute()
        self.replicas = max(1, int(results[-1]))
        # Expired cooldowns are pruned here now and then, so the hash stays small.
        if int(now) % 60 == 0:
            cool = await self.client.hgetall(f"{self.prefix}:cool")
            stale = [f for f, until in cool.items() if float(until) <= now]
            if stale:
                await self.client.hdel(f"{self.prefix}:cool", *stale)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str | None) -> bytes:
    return value.encode() if isinstance(value, str) else value or b""
