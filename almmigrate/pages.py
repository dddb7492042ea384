"""Pagination of SD Elements lists: a page, the guard against pages that cannot be right, and
the page URLs worth fetching concurrently. The client (:mod:`almmigrate.client`) reads lists
with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from almmigrate.errors import NotAnInstance

# Pages read from a list whose size is not known (no `count`) before it is taken for a
# runaway (a cursor that never ends): 2000 pages of 100 is 200,000 objects.
MAX_PAGES = 2000


@dataclass
class Page:
    """One page of a list: its objects, the count it gave (None: none) and the next page."""

    results: list[dict[str, Any]]
    count: int | None
    next: str | None


class ListGuard:
    """Stops a list whose pages cannot be right, before it runs for ever.

    A repeated object id (a proxy that ignores `?page=` serves page 1 again), more
    objects than the latest page's `count` promised, or more pages than the list
    can hold (its count, doubled for growth, or MAX_PAGES when it gives none).
    """

    def __init__(self, problem: Callable[[str], NotAnInstance], first: Page, max_pages: int):
        self.problem = problem
        self.done = 0
        self.pages = 0
        self.seen: set[Any] = set()
        per_page = len(first.results)
        if first.count is not None and per_page:
            self.budget = 2 * math.ceil(first.count / per_page) + 10
        else:
            self.budget = max_pages

    def check(self, page: Page) -> None:
        self.pages += 1
        if self.pages > self.budget:
            raise self.problem(f"gave more than {self.budget} pages ({self.done} objects)")
        for item in page.results:
            key = item.get("id") if isinstance(item, dict) else None
            if isinstance(key, int | str):
                if key in self.seen:
                    raise self.problem(f"gave the object with id {key} twice (page {self.pages})")
                self.seen.add(key)
        self.done += len(page.results)
        if page.count is not None and self.done > page.count:
            raise self.problem(
                f"gave {self.done} objects after saying it held {page.count} (page {self.pages})"
            )


def planned_pages(first: Page) -> Iterator[str] | None:
    """URLs of pages 2..N when the list is page-numbered and its size is known, else None."""
    if not first.next or first.count is None or not first.results:
        return None
    link = urlsplit(first.next)
    query = parse_qsl(link.query, keep_blank_values=True)
    if [value for key, value in query if key == "page"] != ["2"]:
        return None  # cursor or offset pagination: follow `next` one page at a time
    # Pages are as long as asked for; a short first page (the server filtered it) must not
    # make us ask for pages past the end. A server that caps page_size gives fewer pages
    # here than there are: the last one's `next` is then followed one at a time.
    asked = [value for key, value in query if key == "page_size"]
    per_page = max(len(first.results), int(asked[0]) if asked and asked[0].isdigit() else 0)
    last = math.ceil(first.count / per_page)
    return (
        urlunsplit(
            link._replace(
                query=urlencode(
                    [(key, str(number) if key == "page" else value) for key, value in query]
                )
            )
        )
        for number in range(2, last + 1)
    )
