"""Search over one tenant's vehicles and the trouble codes its vehicles have reported, with
facets: the codes found by how many vehicles have each open, and the vehicles found by health
band and by connection. One statement, answered as one JSON document.

Words people type from memory are matched typo-tolerant, through pg_trgm's word similarity: a
vehicle's name, a code and its description. Identifiers people copy are matched by fragment: a
vehicle's id and VIN contain the text typed, case aside (ILIKE, served by a trigram index too).

A vehicle is found by its own fields or by having a found code open, so searching "P03" finds
the vehicles with a misfire code. Facet counts are over everything found; the facet filters
(health bands, connections, codes) narrow only the vehicles listed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

HEALTH_BANDS = ("good", "fair", "poor")  # health_score >= 80, >= 50, below
CONNECTIONS = ("connected", "connecting", "disconnected", "unknown")  # as the bridge reports them
CODES_LISTED = 50


def similarity_threshold(text: str) -> float:
    """pg_trgm's word similarity a match needs. Its default, 0.6, misses a one-letter typo in a
    word ("misfre": 0.57 to "Misfire"), so a single word of five or more characters gets 0.5.
    Shorter words have so few trigrams that 0.5 takes any code sharing the first two characters
    ("P03": 0.5 to "P0171"), and several words share trigrams with too much ("Van 17": 0.57 to
    every "Van N")."""
    return 0.5 if len(text) >= 5 and len(text.split()) == 1 else 0.6


def fragment_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its wildcards and escapes taken literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


_FRAGMENT_TEXT = "(v.id || ' ' || coalesce(v.vin, ''))"  # as idx_vehicles_fragment_search
_CODE_TEXT = "(c.code || ' ' || c.description)"  # as idx_tenant_trouble_codes_search

SEARCH = f"""
WITH codes AS (
  SELECT c.code, c.description, word_similarity($2, {_CODE_TEXT}) AS score
    FROM tenant_trouble_codes c
   WHERE c.tenant_id = $1 AND $2 <% {_CODE_TEXT}
   ORDER BY score DESC, c.code
   LIMIT {CODES_LISTED}),
open_codes AS (
  SELECT d.vehicle_id, d.code FROM dtc_history d JOIN codes USING (code)
   WHERE d.tenant_id = $1 AND d.cleared_at IS NULL),
found AS (  -- by its id or VIN first, then by how well its name matches, then by a code it has open
  SELECT id, max(score) AS score FROM (
    SELECT v.id, 1 AS score FROM vehicles v WHERE v.tenant_id = $1 AND {_FRAGMENT_TEXT} ILIKE $7
     UNION ALL
    SELECT v.id, word_similarity($2, v.name) FROM vehicles v WHERE v.tenant_id = $1 AND $2 <% v.name
     UNION ALL
    SELECT vehicle_id, 0 FROM open_codes) f
   GROUP BY id),
vehicles_found AS (
  SELECT v.id, v.name, v.vin, v.connection, v.health_score, found.score,
         CASE WHEN v.health_score >= 80 THEN 'good' WHEN v.health_score >= 50 THEN 'fair' ELSE 'poor' END AS health
    FROM found JOIN vehicles v ON v.id = found.id AND v.tenant_id = $1),
listed AS (
  SELECT * FROM vehicles_found f
   WHERE (cardinality($3::text[]) = 0 OR f.health = ANY($3))
     AND (cardinality($4::text[]) = 0 OR f.connection = ANY($4))
     AND (cardinality($5::text[]) = 0 OR EXISTS (
          SELECT 1 FROM dtc_history d WHERE d.tenant_id = $1 AND d.vehicle_id = f.id
             AND d.cleared_at IS NULL AND d.code = ANY($5)))
   ORDER BY f.score DESC, f.id
   LIMIT $6),
code_counts AS (SELECT code, count(*) AS vehicles FROM open_codes GROUP BY code),
facets AS (  -- one pass: the count by band, by connection, and of everything found (both NULL)
  SELECT health, connection, count(*) AS n FROM vehicles_found
   GROUP BY GROUPING SETS ((health), (connection), ()))
SELECT json_build_object(
  'found', (SELECT n FROM facets WHERE health IS NULL AND connection IS NULL),
  'vehicles', (SELECT coalesce(json_agg(json_build_object(
                 'vehicle_id', id, 'name', name, 'vin', vin, 'connection', connection,
                 'health_score', health_score, 'health', health) ORDER BY score DESC, id), '[]') FROM listed),
  'trouble_codes', (SELECT coalesce(json_agg(json_build_object(
                      'code', c.code, 'description', c.description, 'vehicles', coalesce(n.vehicles, 0))
                      ORDER BY c.score DESC, c.code), '[]') FROM codes c LEFT JOIN code_counts n USING (code)),
  'health', (SELECT coalesce(json_object_agg(health, n), '{{}}') FROM facets WHERE health IS NOT NULL),
  'connection', (SELECT coalesce(json_object_agg(connection, n), '{{}}') FROM facets WHERE connection IS NOT NULL))
"""


@dataclass(frozen=True)
class SearchFilters:
    """Facet values that narrow the vehicles listed; empty: no narrowing."""

    health: tuple[str, ...] = ()
    connection: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    vehicles: list[dict[str, Any]]  # listed, best match first
    vehicles_found: int  # before the filters and the limit
    trouble_codes: list[dict[str, Any]]  # code, description, vehicles (with it open)
    health: dict[str, int]  # band -> vehicles found
    connection: dict[str, int]


async def search(pool: asyncpg.Pool, tenant_id: str, text: str, filters: SearchFilters = SearchFilters(),
                 limit: int = 20) -> SearchResult:
    """Not tenant-scoped (db/tenancy.py): under row-level security PostgreSQL may not use the
    trigram indexes, as pg_trgm's operators are not leakproof and so may not run before the
    policy, and a search of 10,000 vehicles compared every one (50-100 ms instead of under 10,
    `python -m tests.bench.search`). Every table the statement reads is filtered by tenant_id
    instead; tests/integration/test_search.py checks another tenant's rows are never found."""
    async with pool.acquire() as conn, conn.transaction():  # both settings hold for this transaction
        # The prepared statement's generic plan: planning the statement for each search's words
        # cost 1.6 ms of about 10, and gave the same plan (python -m tests.bench.search).
        await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true), "
                           "set_config('plan_cache_mode', 'force_generic_plan', true)", str(similarity_threshold(text)))
        found = json.loads(await conn.fetchval(SEARCH, tenant_id, text, list(filters.health), list(filters.connection),
                                               list(filters.codes), limit, fragment_pattern(text)))
    return SearchResult(found["vehicles"], found["found"], found["trouble_codes"],
                        {band: found["health"].get(band, 0) for band in HEALTH_BANDS},
                        {state: found["connection"].get(state, 0) for state in CONNECTIONS})
