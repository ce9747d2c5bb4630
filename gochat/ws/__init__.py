"""The WebSocket endpoint, `GET /ws` (endpoint.py), one module per job: what a client frame may be
(frames.py), one connection's state and budgets (session.py), subscribing with resume (resume.py),
the read loop (reader.py), pipelined posts (pipeline.py) and the other frames' service calls
(handlers.py). Fan-out, ordering and the frame format are the live side's (gochat/live/)."""
