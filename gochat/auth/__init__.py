"""Credentials and sessions: password hashing, access tokens (JWT) and refresh-token families."""
