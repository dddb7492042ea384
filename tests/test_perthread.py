"""PerThread: one object per thread; that of an ended thread goes to the next new one."""

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


def test_that_of_an_ended_thread_goes_to_the_next_new_one_and_close_closes_all() -> None:
    per, things = made()
    mine = per.get()  # the main thread's, alive: never handed on
    ended = in_a_thread(per)
    later = in_a_thread(per)
    assert later is ended and not ended.closed and len(things) == 2  # handed on, not made
    both: list[Thing] = []
    started = threading.Barrier(2)

    def at_once() -> None:
        started.wait(60)  # both alive together: one gets the ended thread's, one a new one
        both.append(per.get())
        started.wait(60)

    threads = [threading.Thread(target=at_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert {t.number for t in both} == {1, 2} and len(things) == 3 and mine.number == 0
    per.close()
    assert all(t.closed for t in things)
    refused: list[BaseException] = []

    def new_thread_asks() -> None:
        with pytest.raises(RuntimeError, match="closed") as caught:
            per.get()
        refused.append(caught.value)

    thread = threading.Thread(target=new_thread_asks)
    thread.start()
    thread.join(60)
    assert len(refused) == 1 and len(things) == 3  # nothing made or handed on after close()
