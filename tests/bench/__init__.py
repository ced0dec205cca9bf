"""Benchmark programs: `make bench-cancel`, `bench-telemetry`, `bench-predict` and the smaller
side-by-side measurements; docs/performance.md has their figures."""
