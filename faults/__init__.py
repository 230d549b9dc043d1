"""Faults: the fault schema (`schema`), the pure seeded plan (`plan`, `partitions`), the nemeses that
apply it (`toxiproxy` for links, `docker` for processes), the fault log (`log`), and our
Toxiproxy-API server (`toxiproxy-server/`, Rust). Nothing here imports the harness (DESIGN 2).
"""
