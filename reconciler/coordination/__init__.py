"""Coordination of several daemons (and `reconciler apply` runs) on etcd v3, or by static shards.

    rendezvous   PURE: which member owns which gateway (highest-random-weight hashing), shard names
    etcd         a small etcd v3 client over its JSON gateway (httpx; no gRPC)
    session      one lease kept alive; knows, without a network call, when it may have lost it
    locks        per-gateway write locks bound to a session's lease; the fencing stop signal
    membership   a daemon's member key, the live members, the gateways this member owns

Below the daemon and the CLI, above the model: it never imports the runner, the daemon or the CLI.
"""
