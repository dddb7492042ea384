"""What an instance serves, found by asking it: its API generation, schemas and tests.

:class:`Discovery` belongs to one :class:`~almmigrate.client.SDEClient` and asks
each question once per client (thread-safe):

- which generation of the API it serves: the Issue Tracker connector list is
  asked first, then the ALM one (`--api` names it instead);
- where it publishes plugin schemas (each path of the generation is tried and
  logged; none answering gives the bundled ones, with a one-line notice);
- whether it runs connectivity tests (the first test on a path finds out; a
  path that answers 404 or 405 is not sent again).

The paths themselves come from :mod:`almmigrate.generation`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from almmigrate.errors import ApiError, ApiValidationError, NotAvailable, NotFound
from almmigrate.generation import DETECTION_ORDER, Generation
from almmigrate.schema import Plugin
from almmigrate.secrets import redact_url
from almmigrate.vocabulary import translate_plugins

if TYPE_CHECKING:
    from almmigrate.client import SDEClient

# The client's logger: what a person filters on with -v is "the client talking to an instance".
logger = logging.getLogger("almmigrate.client")

# A first contact that cannot connect is most often a wrong --url: say so within
# seconds. An instance that answers (503, 429) gets every retry --retries allows.
CHECK_RETRIES = 2

# The notice that an instance publishes no plugin schemas carries this as its `notice`
# (and the instance's root URL as `instance`): a caller that explains it in its own
# words (the demo, whose simulated Issue Tracker target publishes none) recognises it.
NO_SCHEMAS = "no-plugin-schemas"

# Instances already told to be using the bundled schemas (the notice is given once).
_NOTICED: set[str] = set()
_NOTICED_LOCK = threading.Lock()


def _absent(exc: ApiError) -> bool:
    """True when an answer says the path is not served (404, 405), not that a call failed."""
    return isinstance(exc, NotFound) or exc.status == 405


class Discovery:
    """The answers one instance gave about itself, asked for once each."""

    def __init__(self, client: SDEClient, forced: Generation | None) -> None:
        self.client = client
        self.forced = forced  # --api: the generation named, not asked
        self.found: Generation | None = None
        self._detecting = threading.Lock()
        self._missing: set[str] = set()  # test paths that answered 404/405: not served
        self._answered: set[str] = set()  # test paths known to be served
        self._probing = threading.Lock()

    def _shown(self, path: str) -> str:
        return self.client.shown_url(path)

    # ------------------------------------------------------------ the generation

    def generation(self) -> Generation:
        """The generation the instance serves, asked once; NotAnInstance when none answers."""
        with self._detecting:
            if self.found is None:
                self.found = self._detect()
            return self.found

    def _detect(self) -> Generation:
        client = self.client
        quick = min(client.settings.retries, CHECK_RETRIES)
        candidates = (self.forced,) if self.forced else DETECTION_ORDER
        tried: list[str] = []
        last: ApiError | None = None
        for candidate in candidates:
            shown = self._shown(candidate.connectors)
            try:
                body = client.request(
                    "GET", candidate.connectors, params={"page_size": 1}, unreachable_retries=quick
                )
            except (NotFound, ApiValidationError) as exc:
                tried.append(f"its API answered {exc.status} at GET {shown}")
                last = exc
                continue
            except ApiError as exc:
                if exc.status != 405:
                    raise
                tried.append(f"its API answered 405 at GET {shown}")
                last = exc
                continue
            if not (isinstance(body, dict) and isinstance(body.get("results"), list)):
                tried.append(f"its API did not answer with a list at GET {shown}")
                continue
            how = "named by --api" if self.forced else f"GET {shown} answered a list"
            logger.info(
                "%s serves the %s generation of the API (%s)",
                redact_url(client.root),
                candidate.label,
                how,
            )
            return candidate
        detail = "; ".join(tried)
        if self.forced:
            detail += f"; is --api {self.forced.api} right?"
        raise client.not_an_instance(detail, candidates[-1].connectors, last)

    # ------------------------------------------------------------ schemas

    def plugins(self) -> dict[str, Plugin]:
        """The plugin schemas the instance publishes, in its generation's names ({} if none)."""
        gen = self.client.generation
        tried = []
        for path in gen.plugin_paths:
            try:
                found = {p.id: p for p in self.client.iter_objects(path, Plugin.from_api)}
            except ApiError as exc:
                if not _absent(exc):
                    raise
                tried.append(f"GET {self._shown(path)} -> {exc.status}")
                continue
            logger.info("plugin schemas read from GET %s", self._shown(path))
            return translate_plugins(found, gen)
        root = self.client.root
        with _NOTICED_LOCK:  # one notice per instance and run, however many clients ask
            first = root not in _NOTICED
            _NOTICED.add(root)
        logger.log(
            logging.WARNING if first else logging.INFO,
            "%s publishes no plugin schemas (tried %s): using the bundled schemas in %s names",
            redact_url(root),
            ", ".join(tried),
            gen.label,
            extra={"notice": NO_SCHEMAS, "instance": root},
        )
        return {}

    def plugin(self, plugin_id: str) -> Plugin:
        """One system's schema from the first plugin path that serves it (NotFound otherwise)."""
        gen = self.client.generation
        for path in gen.plugin_paths[:-1]:
            try:
                found = Plugin.from_api(self.client.get(gen.plugin(path, plugin_id)))
            except NotFound:
                continue
            return translate_plugins({plugin_id: found}, gen)[plugin_id]
        last = Plugin.from_api(self.client.get(gen.plugin(gen.plugin_paths[-1], plugin_id)))
        return translate_plugins({plugin_id: last}, gen)[plugin_id]

    # ------------------------------------------------------------ connectivity tests

    def test(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST one connectivity test; NotAvailable when the instance has no such test.

        The first test on a path finds out whether it is served; the others wait
        for that answer rather than each sending a request to a path that is not there.
        """
        if path not in self._answered:
            with self._probing:
                if path not in self._answered:
                    answer = self._send_test(path, body)
                    self._answered.add(path)
                    return answer
        return self._send_test(path, body)

    def _send_test(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        shown = self._shown(path)
        if path in self._missing:
            raise NotAvailable(f"POST {shown} is not served here", method="POST", url=shown)
        try:
            return dict(self.client.post(path, dict(body), idempotent=True) or {})
        except ApiError as exc:
            # 404 (no route) or 405 on the test path itself: this instance has no such test.
            if exc.status in (404, 405) and not exc.fields:
                self._missing.add(path)
                logger.info("POST %s answered %s: no connectivity test here", shown, exc.status)
                raise NotAvailable(
                    f"POST {shown} is not served here", method="POST", url=shown, status=exc.status
                ) from exc
            raise
