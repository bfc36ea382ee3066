"""What the turn registry promises a caller that leaves: work that takes a place among the
turns in flight runs to its end, and what it took is given back."""

from __future__ import annotations

import asyncio

from resolvers.chat.registry import TurnRegistry


async def test_work_finished_after_its_caller_left_is_given_back() -> None:
    registry = TurnRegistry()
    taken: list[str] = []
    given_back: list[str] = []
    proceed = asyncio.Event()

    async def take() -> str:
        await proceed.wait()
        taken.append("turn-1")
        return "turn-1"

    async def give_back(turn: str) -> None:
        given_back.append(turn)

    caller = asyncio.ensure_future(registry.taken_back_if_left(take(), give_back))
    await asyncio.sleep(0)
    caller.cancel()  # the client leaves while the work is in the database
    proceed.set()
    assert await registry.wait_idle(5)
    assert caller.cancelled()
    assert taken == given_back == ["turn-1"]


async def test_work_its_caller_waited_for_is_kept() -> None:
    registry = TurnRegistry()
    given_back: list[str] = []

    async def take() -> str:
        return "turn-2"

    async def give_back(turn: str) -> None:
        given_back.append(turn)

    assert await registry.taken_back_if_left(take(), give_back) == "turn-2"
    assert await registry.wait_idle(5)
    assert given_back == []


async def test_a_refusal_after_the_caller_left_gives_nothing_back() -> None:
    registry = TurnRegistry()
    given_back: list[str] = []
    proceed = asyncio.Event()

    async def refused() -> str:
        await proceed.wait()
        raise LookupError("at the cap")

    async def give_back(turn: str) -> None:
        given_back.append(turn)

    caller = asyncio.ensure_future(registry.taken_back_if_left(refused(), give_back))
    await asyncio.sleep(0)
    caller.cancel()
    proceed.set()
    assert await registry.wait_idle(5)
    assert given_back == []
