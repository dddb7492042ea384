"""PerThread: one object per thread; those of ended threads closed as the next is made."""

from __future__ import annotations

import threading

import pytest

from almmigrate.perthread import PerThread


class Thing:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False

    def close(self) -> None:
        self.closed = True


def made() -> tuple[PerThread[Thing], list[Thing]]:
    things: list[Thing] = []

    def make() -> Thing:
        things.append(Thing(len(things)))
        return things[-1]

    return PerThread(make), things


def in_a_thread(per: PerThread[Thing]) -> Thing:
    got: list[Thing] = []
    thread = threading.Thread(target=lambda: got.extend([per.get(), per.get()]))
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    first, again = got
    assert again is first  # made once for the thread
    return first


def test_each_thread_has_its_own_made_on_first_use() -> None:
    per, things = made()
    assert things == []
    mine = per.get()
    assert per.get() is mine
    theirs = in_a_thread(per)
    assert theirs is not mine and [t.number for t in things] == [0, 1]


def test_those_of_ended_threads_are_closed_as_the_next_is_made_and_close_closes_all() -> None:
    per, things = made()
    mine = per.get()
    ended = in_a_thread(per)
    assert not ended.closed  # nothing made since its thread ended
    later = in_a_thread(per)
    assert ended.closed and not later.closed and not mine.closed
    per.close()
    assert mine.closed and later.closed
    refused: list[BaseException] = []

    def new_thread_asks() -> None:
        with pytest.raises(RuntimeError, match="closed") as caught:
            per.get()
        refused.append(caught.value)

    thread = threading.Thread(target=new_thread_asks)
    thread.start()
    thread.join(60)
    assert len(refused) == 1 and len(things) == 3  # nothing made after close()
