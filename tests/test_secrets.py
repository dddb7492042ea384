from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import pytest
from cli_runs import Cli

from almmigrate.errors import InputError
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import (
    MASK,
    ScrubFilter,
    cut,
    mask,
    one_run,
    redact_url,
    redaction_scope,
    register_secret,
    scrub,
    secret_run,
    worker_pool,
)
from almmigrate.settings import ConnectionSettings

CANARY = "canary-Zq9-7731-secret"


def test_mask_by_schema_and_by_name():
    jira = bundled_plugins()["jira"]
    shown = mask(
        {
            "alm_pass": "hunter22",
            "my_private_key": "-----BEGIN",
            "bypass_proxy": True,
            "alm_user": "u",
            "x_password": "",
        },
        jira,
    )
    assert shown == {
        "alm_pass": MASK,
        "my_private_key": MASK,
        "bypass_proxy": True,
        "alm_user": "u",
        "x_password": "",  # an empty secret is not a secret to hide
    }


def test_mask_keeps_secrets_in_clear_when_asked_and_still_hides_them_from_messages():
    jira = bundled_plugins()["jira"]
    params = {"alm_pass": "kept-clear-Pw77", "alm_user": "u", "x_token": MASK}
    assert mask(params, jira, include_secrets=True) == params
    assert scrub("refused kept-clear-Pw77") == f"refused {MASK}"
    assert scrub("user u") == "user u"


def test_scrub_hides_registered_values_and_token_headers():
    register_secret(CANARY)
    text = scrub(f"failed with {CANARY}; header Authorization: Token abc123def")
    assert CANARY not in text
    assert "abc123def" not in text
    assert text.count(MASK) == 2


def test_short_values_are_not_registered():
    register_secret("no")
    assert scrub("no problem") == "no problem"


def test_redact_url_drops_userinfo_and_sensitive_query():
    url = "https://admin:hunter22@sde.example.com:8443/api/v2/x/?token=abc&page=2"
    assert (
        redact_url(url)
        == "https://sde.example.com:8443/api/v2/x/?token=%2A%2A%2A%2A%2A%2A%2A%2A&page=2"
    )


def test_log_filter_scrubs_the_final_message(caplog):
    register_secret(CANARY)
    logger = logging.getLogger("almmigrate.test")
    logger.addFilter(ScrubFilter())
    with caplog.at_level(logging.INFO, logger="almmigrate.test"):
        logger.info("sending %s", {"alm_pass": CANARY})
    assert CANARY not in caplog.text
    assert MASK in caplog.text


def test_settings_repr_never_shows_the_token():
    settings = ConnectionSettings(url="https://x", token=CANARY)
    assert CANARY not in repr(settings)
    assert CANARY not in str(settings)


def test_settings_repr_never_shows_a_password_in_the_url():
    settings = ConnectionSettings(url=f"https://admin:{CANARY}@sde.example.com/?token=x", token="t")
    assert CANARY not in repr(settings)
    assert "sde.example.com" in repr(settings)


def test_log_filter_scrubs_a_logged_traceback():
    # A handler's filter runs before its formatter renders exc_info: the traceback must
    # be scrubbed all the same.
    register_secret(CANARY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter())
    logger = logging.getLogger("almmigrate.test.traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad value {CANARY}")
        except ValueError:
            logger.error("failed", exc_info=True, stack_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "ValueError" in text and MASK in text
    assert CANARY not in text


def test_a_scope_keeps_its_secrets_to_itself_and_the_cli_starts_each_run_afresh(
    cli: Cli, tmp_path: Path
) -> None:
    register_secret(CANARY)  # outside any run: this context's own
    with redaction_scope():
        assert scrub(CANARY) == CANARY  # the outer run's secret is not this one's
        register_secret("inner-secret-value-1")
        assert scrub("inner-secret-value-1") == MASK
    assert scrub("inner-secret-value-1") == "inner-secret-value-1"
    assert scrub(CANARY) == MASK
    assert cli("validate", "--help").code == 0
    # An invocation starts with nothing learnt: the caller's secret is not its to hide ...
    code, _, err = cli("validate", str(tmp_path / f"{CANARY}.xlsx"))
    assert code == 2 and f"{CANARY}.xlsx: no such file" in err
    # ... and it resets nothing of the caller's.
    assert scrub(CANARY) == MASK


def test_two_runs_at_once_in_one_process_each_redact_their_own_secrets_without_a_reset():
    """Two library calls in two threads: each hides its own secrets, in its workers too, and
    neither sees (nor clears) the other's; the caller learns neither."""
    first, second = "first-run-secret-1111", "second-run-secret-2222"
    both_registered = threading.Barrier(2)
    shown: dict[str, tuple[str, str]] = {}

    def run(own: str) -> None:
        with secret_run():
            register_secret(own)
            both_registered.wait(timeout=60)
            with worker_pool(1) as pool:
                in_worker = pool.submit(scrub, f"{first} {second}").result()
            shown[own] = (scrub(f"{first} {second}"), in_worker)

    threads = [threading.Thread(target=run, args=(own,)) for own in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert shown[first] == (f"{MASK} {second}", f"{MASK} {second}")
    assert shown[second] == (f"{first} {MASK}", f"{first} {MASK}")
    assert scrub(f"{first} {second}") == f"{first} {second}"


def test_an_error_leaving_a_library_call_is_scrubbed_by_that_call_s_own_secrets():
    """The caller never learns the call's secrets, so the call hides them in its error."""
    secret = "call-token-7777"

    @one_run
    def call() -> None:
        register_secret(secret)
        raise InputError(f"refused: Token {secret} and {secret!r}")

    with pytest.raises(InputError) as caught:
        call()
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in caught.value.message and str(caught.value).startswith("refused: ")


def test_a_library_call_after_another_starts_without_its_secrets_and_keeps_the_callers():
    register_secret("caller-secret-3333")  # e.g. the caller read a secrets file itself
    with secret_run():
        register_secret("call-one-secret-4444")
        assert scrub("caller-secret-3333 call-one-secret-4444") == f"{MASK} {MASK}"
    with secret_run():
        assert scrub("caller-secret-3333 call-one-secret-4444") == f"{MASK} call-one-secret-4444"
        with secret_run():  # a library call inside a run is part of it
            register_secret("nested-secret-5555")
        assert scrub("nested-secret-5555") == MASK


@pytest.mark.parametrize("pad", range(40))
def test_cut_searches_only_what_it_shows_and_still_hides_a_secret_split_at_either_end(
    pad: int,
) -> None:
    secret = "Cut-Secret-0123456789-ABCDEFGHIJ"
    # Masking shrinks the text, so the end of the part searched comes into view.
    text = "p" * pad + ("ab " + secret) * 40 + "z" * 100_000
    with redaction_scope():
        register_secret(secret, "alm_pass")
        shown = cut(text, 300)
        assert cut("z" * 295 + secret[:12], 300) == "z" * 295 + MASK + "... (7 more characters)"
    assert secret[:4] not in shown and shown.count(MASK) >= 10, shown
    assert shown.endswith(" more characters)")
