"""Link previews (issue #17): which links a message has (links.py), what a page says (meta.py),
fetching it through the SSRF guard (fetch.py), the queue a follower of the log fills (outbox.py),
and the worker that appends `message.link_preview` (worker.py). docs/api.md, "Link previews".
"""
