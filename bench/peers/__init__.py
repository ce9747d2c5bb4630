"""Servers gochat is measured against in bench/compare.py, each speaking to one room of sockets:
a bare aiohttp broadcast (the floor: no persistence, no auth), python-socketio on aiohttp, and
Socket.IO on Node. Installed by the bench when it runs (bench/peers/install.py), never by gochat."""
