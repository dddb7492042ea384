"""How to reach one SD Elements instance, as the user gave it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from almmigrate.errors import InputError
from almmigrate.secrets import MASK, redact_url, register_secret


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


def sent_token(raw: str) -> str:
    """The token as sent; registered as a secret so no message can show it."""
    register_secret(raw)
    token = (raw or "").strip()
    if token.lower().startswith("token "):  # pasted with the header's prefix
        token = token[6:].strip()
    if not token:
        raise InputError("the token is empty: set SDE_TOKEN or pass --token")
    if any(c.isspace() or not (32 < ord(c) < 127) for c in token):
        raise InputError(
            "the token contains spaces, line breaks or non-ASCII characters: check SDE_TOKEN or --token"
        )
    register_secret(token)
    return token


def tls_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """What httpx verifies the instance's certificate with: system CAs, none, or a CA bundle."""
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot use the CA bundle {verify}: {exc}") from exc
    return verify
