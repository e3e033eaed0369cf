"""Benchmarks for deployledger: `python -m bench` (or `make bench`).

Measures, in one run and on SQLite and PostgreSQL, the median over several runs of:

1. `Ledger.record()` latency against a raw floor: a plain sqlite3 / psycopg single-row
   INSERT + COMMIT of a similar row into a similar table, with the same durability
   (SQLite WAL with `synchronous=FULL`; PostgreSQL `synchronous_commit=on`);
2. `record()` on a workload with 10,000 prior attempts against one with 10, with a warm
   ledger (cache populated) and a cold one (freshly opened);
3. `record_many()` of 100,000 reports against a raw `executemany` floor.

Every measurement runs against a fresh store; floors run in the same process, interleaved
with the library runs. Results go to stdout and to `bench/results/latest.md`.
"""
