"""The system under test: one Multi-Paxos key-value replica (run with `python -m replica_image`).

`paxos/` is the pure consensus core, `kv` the replicated state machine, `codec` the JSON edge,
`storage` durability, `server` the aiohttp driver. This package imports nothing of the project
outside itself (it is copied alone into the replica image).
"""
