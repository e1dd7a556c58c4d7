"""The kernel: what every layer above may use, and which imports nothing else of the project.

Typed values exchanged between stages (`types`), the store (schema, engine, ingestion, migrations),
the clock, text folding and language identification, the network edge (SSRF guard and secret scrubbing,
`net`), plugin discovery (`plugins`), logging set-up. See docs/architecture.md for the layers above it.
"""
