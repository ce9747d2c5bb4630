"""Stopping a background task: `cancel_and_wait` ends a task that swallows a cancel, which a bare
cancel-then-await would wait on for ever (Python 3.11's asyncio.wait_for can swallow one)."""

from __future__ import annotations

import asyncio

from gochat.aio import cancel_and_wait


async def test_a_task_that_swallows_one_cancel_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def loop_that_carries_on() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a cancel lost in a wait_for race looks to the loop: nothing happened

    task = asyncio.create_task(loop_that_carries_on())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task, again_after=0.05)
    assert task.cancelled()
    assert swallowed == 1


async def test_a_task_that_failed_is_not_raised_to_the_one_stopping_it() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await cancel_and_wait(task)  # the caller is stopping it: its failure is not the caller's
    assert isinstance(task.exception(), RuntimeError)
    await cancel_and_wait(None)  # nothing started: nothing to stop
