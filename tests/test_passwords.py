"""Password hashing: argon2id at OWASP's floor, off the event loop, with a bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from argon2 import extract_parameters

from gochat.auth.passwords import Passwords
from gochat.errors import Unavailable


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    service = Passwords(workers=1, max_waiting=2)
    yield service
    service.close()


async def test_hashes_are_argon2id_with_at_least_the_required_cost(passwords: Passwords) -> None:
    digest = await passwords.hash("correct horse")
    params = extract_parameters(digest)
    assert digest.startswith("$argon2id$")
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
    assert params.parallelism >= 1
    assert digest != await passwords.hash("correct horse")  # salted


async def test_verify_matches_only_the_right_password(passwords: Passwords) -> None:
    digest = await passwords.hash("correct horse")
    assert await passwords.verify(digest, "correct horse")
    assert not await passwords.verify(digest, "correct horse ")
    assert not await passwords.verify(digest, "Correct horse")
    assert not await passwords.verify("not-a-hash", "correct horse")


async def test_an_unknown_user_costs_one_verification_and_never_matches(passwords: Passwords) -> None:
    before = passwords.verifications
    assert not await passwords.verify(None, "anything at all")
    assert passwords.verifications == before + 1


async def test_unicode_passwords_match_whichever_way_they_are_composed(passwords: Passwords) -> None:
    digest = await passwords.hash("caf\u00e9 au lait")  # é precomposed
    assert await passwords.verify(digest, "cafe\u0301 au lait")  # e + combining acute


async def test_a_burst_beyond_the_queue_is_shed_with_503(passwords: Passwords) -> None:
    results = await asyncio.gather(*(passwords.verify(None, "password") for _ in range(3)), return_exceptions=True)
    shed = [r for r in results if isinstance(r, Unavailable)]
    assert len(shed) == 1
    assert shed[0].status == 503
    assert results.count(False) == 2
    # the queue drains: later calls are served again
    assert await passwords.verify(None, "password") is False
