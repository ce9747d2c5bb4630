"""End-to-end encryption: the key directory's storage (store.py) and the reference client (client.py)."""
