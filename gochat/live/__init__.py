"""The live side: from committed events to every subscriber's socket, on every node.

One job per module: `relay.py` wires the rest; `sequencer.py` orders each room and fills gaps from
the log; `outbox.py` publishes to the other nodes with retry; `envelope.py` is what nodes send each
other; `log_tail.py` reads the log while the broker is down; `presence.py` fans presence changes
out; `revocation.py` closes revoked sessions everywhere; `hub.py` (rooms -> connections, with
`connection.py`, `frames.py`, `heartbeat.py`) writes to sockets; `wire.py` renders events as
frames; `people.py` sends notifications and profile changes; `broker*.py` and
`presence_store*.py` are the backends, memory and Redis side by side; `tasks.py` keeps background
work. Nothing here imports aiohttp: a socket is the Protocol of `connection.py`.
"""
