"""The two generations of the API and every endpoint path: the one place paths are written.

Older SD Elements releases serve ALM connectors and connections under `/alm/`;
newer ones call them Issue Tracker connectors and connections and serve them
under `/issue-tracker/`, with params renamed (see :mod:`almmigrate.vocabulary`).
The client asks an instance which paths answer (:meth:`SDEClient.check`) and
takes every path from the :class:`Generation` it found, so nothing else in
the code spells a path of either generation.

Where the newer generation publishes plugin schemas and connectivity tests is
not documented: `plugin_paths` and the test paths are what is *tried*, in
order, and a path that answers 404 or 405 is reported as not there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from almmigrate.errors import InputError
from almmigrate.secrets import scrub

ALM = "alm"
ISSUE_TRACKER = "issue-tracker"
API_CHOICES = (ALM, ISSUE_TRACKER)

# Where the API is under an instance's root, and what to tell a person who gave another URL.
API_PATH = "/api/v2/"
ROOT_HINT = "--url should be the instance root, e.g. https://sde.example.com"

# Paths both generations share.
PROJECTS_PATH = "projects/"
APPLICATIONS_PATH = "applications/"
BUSINESS_UNITS_PATH = "business-units/"
ALM_PLUGINS = "plugins/alm/"
ISSUE_TRACKER_PLUGINS = "plugins/issue-tracker/"
ALM_TEST_CONNECTOR = "connectors/testalm/"
ALM_TEST_CONNECTION = "connections/testalm/"


@dataclass(frozen=True)
class Generation:
    """One generation of the API: its paths and its param vocabulary."""

    api: str  # "alm" or "issue-tracker", as --api and `_meta` spell it
    label: str  # for people: "ALM", "Issue Tracker"
    connectors: str
    connections: str
    plugin_paths: tuple[str, ...]  # where plugin schemas are looked for, in order
    test_connector: str
    test_connection: str
    prefix: str  # params of the ALM system: "alm_" or "issue_tracker_"
    conflict_value: str  # the `conflict_policy` value that means "the ALM side wins"

    def connector(self, ident: int) -> str:
        return f"{self.connectors}{ident}/"

    def connection(self, ident: int) -> str:
        return f"{self.connections}{ident}/"

    def plugin(self, plugin_path: str, system: str) -> str:
        return f"{plugin_path}{system}/"

    def list_path(self, what: str) -> str:
        """The list path of "connectors", "connections", "projects", "applications" or "business units"."""
        if what == "connectors":
            return self.connectors
        if what == "connections":
            return self.connections
        return SHARED_LISTS[what]


# The lists both generations serve at the same path, by the name reading reports them under.
SHARED_LISTS = {
    "projects": PROJECTS_PATH,
    "applications": APPLICATIONS_PATH,
    "business units": BUSINESS_UNITS_PATH,
}


ALM_GENERATION = Generation(
    api=ALM,
    label="ALM",
    connectors="connectors/alm/",
    connections="connections/alm/",
    plugin_paths=(ALM_PLUGINS, ISSUE_TRACKER_PLUGINS),
    test_connector=ALM_TEST_CONNECTOR,
    test_connection=ALM_TEST_CONNECTION,
    prefix="alm_",
    conflict_value="alm",
)

# The pages seen document no plugin or test endpoint for this generation: the ALM
# ones are tried (the instance may still serve them), then a guess for schemas.
ISSUE_TRACKER_GENERATION = Generation(
    api=ISSUE_TRACKER,
    label="Issue Tracker",
    connectors="connectors/issue-tracker/",
    connections="connections/issue-tracker/",
    plugin_paths=(ISSUE_TRACKER_PLUGINS, ALM_PLUGINS),
    test_connector=ALM_TEST_CONNECTOR,
    test_connection=ALM_TEST_CONNECTION,
    prefix="issue_tracker_",
    conflict_value="issue_tracker",
)

GENERATIONS = {g.api: g for g in (ALM_GENERATION, ISSUE_TRACKER_GENERATION)}

# Asked in this order: the current name first, so an instance that answers both
# is spoken to in the vocabulary it documents.
DETECTION_ORDER = (ISSUE_TRACKER_GENERATION, ALM_GENERATION)


def generation(api: str | None) -> Generation:
    """The Generation for "alm" or "issue-tracker" (None: ALM); InputError otherwise."""
    if api is None:
        return ALM_GENERATION
    found = GENERATIONS.get(api.strip().lower().replace("_", "-"))
    if found is None:
        raise InputError(f'--api "{api}" is not one of {", ".join(API_CHOICES)}')
    return found


# ---------------------------------------------------------------- addresses


def api_base(url: str) -> str:
    """The API base (ending in `/api/v2/`) of an instance URL given with or without `/api/v2`.

    A URL without a scheme is taken as https. User info, query and fragment are dropped.
    Raises InputError when the URL is not an http(s) address.
    """
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        host = None
    if parts.scheme.lower() not in ("http", "https") or not host or _not_a_host_name(host):
        shown = "" if "@" in url else f" {scrub(url.strip())!r}"  # user info may hold a password
        raise InputError(f"--url{shown} is not an http(s) address: {ROOT_HINT}")
    path = parts.path.rstrip("/")
    if path.endswith(API_PATH.rstrip("/")):
        path = path[: -len(API_PATH.rstrip("/"))]
    netloc = parts.netloc.rpartition("@")[2]  # never send user info: the token is the credential
    return urlunsplit((parts.scheme.lower(), netloc, path + API_PATH, "", ""))


def _not_a_host_name(host: str) -> bool:
    """A host no DNS can hold (spaces, quotes): a mistyped --url, not an unreachable one."""
    return any(c.isspace() or c in '"<>\\^`{|}' for c in host)


def is_loopback(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
