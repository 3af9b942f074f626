"""Shared HTTP client bits for the ingest modules.

One small, reusable piece: :func:`request` sends a GET and

* retries connection errors and HTTP 5xx with jittered exponential back-off;
* on HTTP 429 waits as long as the server asks (``Retry-After`` in seconds or as
  an HTTP date, else ``RateLimit-Reset`` in seconds), else backs off, and after
  ``max_rate_limited`` tries raises :class:`RateLimited` so a caller can shrink
  its request window;
* on HTTP 401/403 raises :class:`TokenRejected` naming the environment variable
  to set;
* never puts a token in a message or a log line.

Sleeping goes through :attr:`RetryPolicy.sleep`, so tests run with tiny waits
and can record what was asked for.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

USER_AGENT = "energylib/0.1 (+https://github.com/energylib)"


class HttpError(RuntimeError):
    """A request failed for good; ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, url: str = ""):
        super().__init__(message)
        self.status = status
        self.url = url


class TokenRejected(HttpError):
    """The server refused the credentials (HTTP 401/403)."""


class RateLimited(HttpError):
    """HTTP 429 persisted through the allowed retries; ``retry_after_s`` is the last hint."""

    def __init__(self, message: str, *, url: str = "", retry_after_s: float | None = None):
        super().__init__(message, status=429, url=url)
        self.retry_after_s = retry_after_s


class ServerError(HttpError):
    """HTTP 5xx or a connection failure persisted through the allowed retries."""


class MalformedResponse(HttpError, ValueError):
    """The body is not what the API documents (not JSON, wrong shape, missing fields)."""


@dataclass
class RetryPolicy:
    """How :func:`request` retries.

    Parameters
    ----------
    max_retries : int
        Retries after a 5xx or connection error (so ``max_retries + 1`` tries).
    max_rate_limited : int
        Tries that may answer 429 before :class:`RateLimited` is raised.
    backoff_base_s : float
        First back-off [s]; doubles each retry.
    backoff_max_s : float
        Longest single back-off [s].
    jitter_s : float
        Uniform random extra wait in ``[0, jitter_s]`` [s], so clients do not retry in step.
    max_wait_s : float
        Longest wait honoured from a server's ``Retry-After`` / ``RateLimit-Reset`` [s].
    timeout_s : float
        Connect and read timeout of one request [s].
    sleep : callable
        ``sleep(seconds)``; tests pass a recorder.
    """

    max_retries: int = 4
    max_rate_limited: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter_s: float = 1.0
    max_wait_s: float = 300.0
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def backoff_s(self, attempt: int) -> float:
        """Back-off before retry number ``attempt`` (0-based) [s], jitter included."""
        base = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return base + self.rng.uniform(0.0, self.jitter_s)


def make_session(token: str | None = None, *, user_agent: str = USER_AGENT) -> requests.Session:
    """A :class:`requests.Session` with a bearer token (if given) and a user agent."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json, text/csv;q=0.9, */*;q=0.1"
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a server asks for [s], from ``Retry-After`` or ``RateLimit-Reset``; None if neither.

    ``Retry-After`` may be delta-seconds or an HTTP date; ``RateLimit-Reset``
    (IETF draft, used by Amber) is seconds until the window resets.
    """
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    reset = headers.get("RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset.strip()))
        except ValueError:
            return None
    return None


def _safe_url(url: str) -> str:
    """The URL without its query (which may carry an API key, as ENTSO-E's does)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def request(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    token_env: str | None = None,
    where: str = "",
) -> requests.Response:
    """GET ``url`` with retries; return the successful (2xx) response.

    Parameters
    ----------
    session : requests.Session
        Carries the auth header (see :func:`make_session`).
    url : str
        Full URL.
    params : mapping, optional
        Query parameters.
    policy : RetryPolicy, optional
        Retry settings; the default waits seconds, tests pass tiny ones.
    token_env : str, optional
        Environment variable that holds the token, named in the 401 message.
    where : str
        What is being fetched (``"prices 2025-01-01..2025-01-07"``), named in errors.

    Raises
    ------
    TokenRejected
        HTTP 401 or 403.
    RateLimited
        HTTP 429 on ``policy.max_rate_limited`` tries in a row.
    ServerError
        HTTP 5xx or connection errors on every try.
    HttpError
        Any other non-2xx status (the body's first 200 characters are quoted).
    """
    policy = policy or RetryPolicy()
    label = f" ({where})" if where else ""
    shown = _safe_url(url)
    server_tries = 0
    limited_tries = 0
    while True:
        try:
            resp = session.get(url, params=params, timeout=policy.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if server_tries >= policy.max_retries:
                raise ServerError(
                    f"cannot reach {shown}{label} after {server_tries + 1} tries: {type(exc).__name__}; "
                    "check the network or the base URL and run again",
                    url=shown,
                ) from exc
            policy.sleep(policy.backoff_s(server_tries))
            server_tries += 1
            continue
        status = resp.status_code
        if 200 <= status < 300:
            return resp
        if status in (401, 403):
            var = f"; set {token_env} (environment or .env) to a valid token" if token_env else ""
            raise TokenRejected(
                f"token rejected by {urlsplit(url).netloc} (HTTP {status}){label}{var}",
                status=status,
                url=shown,
            )
        if status == 429:
            limited_tries += 1
            hint = retry_after_s(resp.headers)
            if limited_tries >= policy.max_rate_limited:
                wait = f"; the server asked to wait {hint:g} s" if hint is not None else ""
                raise RateLimited(
                    f"rate limited by {urlsplit(url).netloc} (HTTP 429) {limited_tries} times in a row{label}{wait}",
                    url=shown,
                    retry_after_s=hint,
                )
            wait_s = (
                min(hint, policy.max_wait_s) + policy.rng.uniform(0.0, policy.jitter_s)
                if hint is not None
                else policy.backoff_s(limited_tries - 1)
            )
            policy.sleep(wait_s)
            continue
        if status >= 500:
            if server_tries >= policy.max_retries:
                raise ServerError(
                    f"{shown} answered HTTP {status}{label} on {server_tries + 1} tries; "
                    "the service is failing, run again later",
                    status=status,
                    url=shown,
                )
            policy.sleep(policy.backoff_s(server_tries))
            server_tries += 1
            continue
        body = resp.text[:200].replace("\n", " ")
        raise HttpError(
            f"{shown} answered HTTP {status}{label}: {body!r}", status=status, url=shown
        )


def get_json(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    token_env: str | None = None,
    where: str = "",
) -> Any:
    """:func:`request` and decode the JSON body; a body that is not JSON raises
    :class:`MalformedResponse` naming ``where``."""
    resp = request(session, url, params=params, policy=policy, token_env=token_env, where=where)
    try:
        return resp.json()
    except (ValueError, json.JSONDecodeError) as exc:
        snippet = resp.text[:120].replace("\n", " ")
        raise MalformedResponse(
            f"malformed response from {_safe_url(url)} ({where or 'request'}): not JSON ({exc}); "
            f"body starts {snippet!r}",
            status=resp.status_code,
            url=_safe_url(url),
        ) from exc
