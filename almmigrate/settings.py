"""How to reach one SD Elements instance, as the user gave it."""

from __future__ import annotations

from dataclasses import dataclass

from almmigrate.secrets import MASK, redact_url


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the client needs to talk to one instance.

    url: the instance root, with or without `/api/v2`, with or without a trailing slash.
    verify: True (system CAs), False (`--insecure`), or a CA bundle path (`--ca-bundle`).
    rate: requests per second across every worker; None means no limit. With `adapt`
        it is a ceiling the adaptive controller never passes (None: no ceiling).
    adapt: find the rate the instance sustains (`--rate auto`, almmigrate.ratecontrol).
    concurrency: requests in flight at once; None follows the rate and the observed
        latency (Little's law; only with `adapt`).
    api: "alm" or "issue-tracker" to name the instance's API generation (--api);
        None asks the instance which paths answer.
    """

    url: str
    token: str
    verify: bool | str = True
    timeout: float = 30.0
    allow_http: bool = False
    rate: float | None = None
    adapt: bool = False
    concurrency: int | None = 4
    retries: int = 5
    max_wait: float = 600.0  # seconds the instance may make us wait before we give up
    page_size: int = 100
    api: str | None = None

    def __repr__(self) -> str:
        # Never let a token reach a log line or a traceback through repr(): nor a
        # password in the URL's user info or query.
        return f"ConnectionSettings(url={redact_url(self.url)!r}, token={MASK!r})"
