"""Windowed Amber backfill against a local server in the API's real shapes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from amber_fake import interval, nem_day_start, prices_for_days
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from energylib.dates import iter_windows, month_windows
from energylib.ingest.amber import AmberClient, backfill_amber
from energylib.ingest.backfill import BackfillError, latest_stored
from energylib.ingest.http import RetryPolicy, retry_after_s
from energylib.store import ParquetStore

TOKEN = "psk_backfill_secret_987"
SITE = "SITE1"


class FakeAmber:
    """Answers /sites/SITE1/prices per window; a script of failures may run first."""

    def __init__(self, minutes: int = 30):
        self.minutes = minutes
        self.calls: list[tuple[str, str]] = []
        self.script: list = []  # Response objects to answer before serving data
        self.fail_if = None  # callable(first, last) -> Response | None
        self.extra = None  # callable(first, last) -> list of extra records

    def __call__(self, request: Request) -> Response:
        first = date.fromisoformat(request.args["startDate"])
        last = date.fromisoformat(request.args["endDate"])
        self.calls.append((str(first), str(last)))
        assert request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if self.script:
            return self.script.pop(0)
        if self.fail_if is not None:
            resp = self.fail_if(first, last)
            if resp is not None:
                return resp
        body = prices_for_days(first, last, self.minutes)
        if self.extra is not None:
            body += self.extra(first, last)
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def amber(httpserver, tmp_path):
    fake = FakeAmber()
    httpserver.expect_request(f"/v1/sites/{SITE}/prices").respond_with_handler(fake)
    waits: list[float] = []
    policy = RetryPolicy(
        max_retries=3,
        max_rate_limited=2,
        backoff_base_s=0.01,
        jitter_s=0.01,
        max_wait_s=0.05,
        sleep=waits.append,
    )
    client = AmberClient(TOKEN, site_id=SITE, base_url=httpserver.url_for("/v1"), policy=policy)
    return fake, client, ParquetStore(tmp_path / "store"), waits


def stored(store, channel="general"):
    data, _ = store.read("amber", "prices", site=SITE, channel=channel)
    return data


def test_default_windows_are_seven_days(amber):
    fake, client, store, _ = amber
    report = backfill_amber(store, "2025-01-01", "2025-01-15", client=client, progress=False)
    assert fake.calls == [
        ("2025-01-01", "2025-01-07"),
        ("2025-01-08", "2025-01-14"),
        ("2025-01-15", "2025-01-15"),
    ]
    assert report.ok and len(report.windows) == 3
    assert stored(store).height == 15 * 48
    assert report.stored.inserted == 2 * 15 * 48


def test_rerun_is_idempotent(amber):
    _, client, store, _ = amber
    backfill_amber(store, "2025-01-01", "2025-01-03", client=client, progress=False)
    again = backfill_amber(store, "2025-01-01", "2025-01-03", client=client, progress=False)
    assert again.stored.inserted == 0 and again.stored.updated == 0
    assert again.stored.unchanged == 2 * 3 * 48


def test_empty_window_is_not_an_error(amber):
    fake, client, store, _ = amber
    fake.fail_if = lambda first, last: (
        Response("[]", content_type="application/json") if first == date(2025, 1, 8) else None
    )
    report = backfill_amber(store, "2025-01-01", "2025-01-21", client=client, progress=False)
    assert report.ok and [w.rows for w in report.windows] == [7 * 96, 0, 7 * 96]
    assert stored(store).height == 14 * 48


def test_duplicate_interval_across_windows_stored_once(amber):
    fake, client, store, _ = amber
    # every window also repeats the last interval of the day before it, as a real overlap would
    fake.extra = lambda first, last: (
        [
            interval(
                nem_day_start(first) - timedelta(minutes=30),
                30,
                "general",
                "ActualInterval",
                per_kwh=26.0,
                spot_per_kwh=26.0 / 3,
            )
        ]
        if first > date(2025, 1, 1)
        else []
    )
    report = backfill_amber(store, "2025-01-01", "2025-01-14", client=client, progress=False)
    data = stored(store)
    assert data.height == 14 * 48
    assert data["interval_start"].is_unique().all()
    assert report.stored.unchanged + report.stored.updated >= 1
    # the repeated interval is the only row the second window did not insert
    assert report.stored.inserted == 2 * 14 * 48
    assert report.stored.unchanged + report.stored.updated == 1


def test_429_honours_retry_after_then_succeeds(amber):
    fake, client, store, waits = amber
    fake.script = [Response("slow down", status=429, headers={"Retry-After": "0.03"})]
    report = backfill_amber(store, "2025-01-01", "2025-01-02", client=client, progress=False)
    assert report.ok and stored(store).height == 2 * 48
    assert len(waits) == 1 and 0.03 <= waits[0] <= 0.03 + 0.01 + 1e-9


def test_ratelimit_reset_header_is_honoured():
    assert retry_after_s({"RateLimit-Reset": "17"}) == 17.0
    assert retry_after_s({"Retry-After": "5", "RateLimit-Reset": "17"}) == 5.0
    now = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert retry_after_s({"Retry-After": "Wed, 01 Jan 2025 00:00:30 GMT"}, now=now) == 30.0
    assert retry_after_s({}) is None


def test_repeated_429_shrinks_the_window_down_to_what_the_server_accepts(amber):
    fake, client, store, _ = amber
    # the server refuses any request longer than 2 days (as the usage history does)
    fake.fail_if = lambda first, last: (
        Response("too many", status=429, headers={"RateLimit-Reset": "0"})
        if (last - first).days + 1 > 2
        else None
    )
    report = backfill_amber(store, "2025-01-01", "2025-01-09", client=client, progress=False)
    assert report.ok
    assert stored(store).height == 9 * 48
    sizes = [(date.fromisoformat(b) - date.fromisoformat(a)).days + 1 for a, b in fake.calls]
    assert sizes[:2] == [7, 7] and max(s for s in sizes[2:]) <= 3  # 7 -> 3 -> ...
    assert all((w.last_day - w.first_day).days + 1 <= 2 for w in report.windows)


def test_429_at_the_smallest_window_stops_with_what_was_stored_and_how_to_resume(amber):
    fake, client, store, _ = amber
    fake.fail_if = lambda first, last: (
        Response("no", status=429) if first >= date(2025, 1, 8) else None
    )
    with pytest.raises(BackfillError) as err:
        backfill_amber(
            store, "2025-01-01", "2025-01-20", client=client, progress=False, min_window_days=2
        )
    msg = str(err.value)
    assert "rate limited at the smallest window (2 day(s))" in msg
    assert "stored through 2025-01-07" in msg
    assert "--resume" in msg and "energy backfill amber" in msg
    assert stored(store).height == 7 * 48  # the first window stays stored


def test_5xx_is_retried(amber):
    fake, client, store, waits = amber
    fake.script = [Response("oops", status=502), Response("oops", status=503)]
    report = backfill_amber(store, "2025-01-01", "2025-01-01", client=client, progress=False)
    assert report.ok and stored(store).height == 48
    assert len(waits) == 2 and waits[1] > waits[0] * 0.5  # exponential back-off with jitter


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda: Response("down", status=500), "HTTP 500"),  # a 5xx that persists
        (
            lambda: Response("<html>gateway</html>", status=200, content_type="text/html"),
            "not JSON",  # a malformed body
        ),
    ],
)
def test_a_failing_window_stops_keeps_earlier_windows_and_names_itself(amber, answer, said):
    fake, client, store, _ = amber
    fake.fail_if = lambda first, last: answer() if first >= date(2025, 1, 8) else None
    with pytest.raises(BackfillError) as err:
        backfill_amber(store, "2025-01-01", "2025-01-14", client=client, progress=False)
    assert said in str(err.value) and "window 2025-01-08..2025-01-14" in str(err.value)
    assert stored(store).height == 7 * 48


def test_401_says_token_rejected_and_keeps_nothing_secret(amber):
    fake, client, store, _ = amber
    fake.script = [Response("Unauthorized", status=401)]
    with pytest.raises(BackfillError) as err:
        backfill_amber(store, "2025-01-01", "2025-01-03", client=client, progress=False)
    assert "token rejected" in str(err.value) and "AMBER_TOKEN" in str(err.value)
    assert TOKEN not in str(err.value)


def test_record_missing_a_field_names_the_window(amber):
    fake, client, store, _ = amber

    def broken(first, last):
        if first == date(2025, 1, 8):
            body = prices_for_days(first, last)
            del body[5]["spotPerKwh"]
            return Response(json.dumps(body), content_type="application/json")
        return None

    fake.fail_if = broken
    with pytest.raises(BackfillError, match=r"prices 2025-01-08\.\.2025-01-14.*spotPerKwh"):
        backfill_amber(store, "2025-01-01", "2025-01-14", client=client, progress=False)


def test_resume_continues_from_the_latest_stored_day(amber):
    fake, client, store, _ = amber
    backfill_amber(store, "2025-01-01", "2025-01-05", client=client, progress=False)
    assert latest_stored(store, "amber", "prices", site=SITE) == nem_day_start(date(2025, 1, 6))
    fake.calls.clear()
    report = backfill_amber(
        store, "2025-01-01", "2025-01-10", client=client, resume=True, progress=False
    )
    # the last stored day is fetched again (it may have been partial), then onwards
    assert fake.calls[0][0] == "2025-01-05"
    assert report.skipped_to == date(2025, 1, 5)
    assert stored(store).height == 10 * 48


def test_resume_ignores_stored_forecasts(amber):
    fake, client, store, _ = amber
    fake.extra = lambda first, last: [
        interval(nem_day_start(last + timedelta(days=3)), 30, "general", "ForecastInterval")
    ]
    backfill_amber(store, "2025-01-01", "2025-01-02", client=client, progress=False)
    # a forecast 3 days ahead is stored, but history ends with 2025-01-02
    assert latest_stored(store, "amber", "prices", site=SITE) == nem_day_start(date(2025, 1, 3))


@settings(max_examples=50, deadline=None)
@given(
    start=st.dates(date(2020, 1, 1), date(2030, 1, 1)),
    n=st.integers(0, 400),
    days=st.integers(1, 40),
)
def test_windows_cover_the_range_exactly_once(start, n, days):
    end = start + timedelta(days=n)
    ws = list(iter_windows(start, end, days))
    assert ws[0][0] == start and ws[-1][1] == end
    for (_a, b), (c, _) in zip(ws, ws[1:], strict=False):
        assert c == b + timedelta(days=1)
    assert all(0 <= (b - a).days < days for a, b in ws)
    ms = list(month_windows(start, end))
    assert ms[0][0] == start and ms[-1][1] == end
    assert all(a.month == b.month and a.year == b.year for a, b in ms)


def test_saved_responses_merge_actual_over_forecast_and_later_file_wins(tmp_path):
    from energylib.ingest.amber import store_amber_responses

    t = nem_day_start(date(2025, 1, 1))
    older = tmp_path / "a.json"
    newer = tmp_path / "b.json"
    older.write_text(
        json.dumps(
            [
                interval(t, 5, "general", "ActualInterval", per_kwh=20.0),
                interval(t + timedelta(minutes=5), 5, "general", "ActualInterval", per_kwh=21.0),
            ]
        )
    )
    newer.write_text(
        json.dumps(
            [
                interval(t, 5, "general", "ForecastInterval", per_kwh=90.0),
                interval(t + timedelta(minutes=5), 5, "general", "ActualInterval", per_kwh=22.0),
            ]
        )
    )
    store = ParquetStore(tmp_path / "s")
    result = store_amber_responses(store, [older, newer], site="S")
    assert result.inserted == 2
    data, _ = store.read("amber", "prices", site="S", channel="general")
    assert data["price_per_kwh"].to_list() == pytest.approx([0.20, 0.22])
    assert data["is_forecast"].to_list() == [False, False]


def test_connection_errors_are_retried_then_reported(tmp_path):
    from energylib.ingest.http import ServerError, make_session, request

    waits: list[float] = []
    policy = RetryPolicy(
        max_retries=2, backoff_base_s=0.01, jitter_s=0.0, timeout_s=2, sleep=waits.append
    )
    with pytest.raises(
        ServerError, match=r"cannot reach http://127\.0\.0\.1:9/v1/x \(prices w\) after 3 tries"
    ):
        request(
            make_session(TOKEN),
            "http://127.0.0.1:9/v1/x?token=abc",
            policy=policy,
            where="prices w",
        )
    assert waits == [0.01, 0.02]


def test_usage_backfill_stores_each_meter_channel(httpserver, tmp_path):
    from amber_fake import usage_record

    def handler(request: Request) -> Response:
        first = date.fromisoformat(request.args["startDate"])
        last = date.fromisoformat(request.args["endDate"])
        t, stop, recs = nem_day_start(first), nem_day_start(last + timedelta(days=1)), []
        while t < stop:
            recs += [
                usage_record(t, "general", "E1", 0.4, 12.0),
                usage_record(t, "feedIn", "B1", -0.1, -0.5),
            ]
            t += timedelta(minutes=30)
        return Response(json.dumps(recs), content_type="application/json")

    httpserver.expect_request(f"/v1/sites/{SITE}/usage").respond_with_handler(handler)
    client = AmberClient(
        TOKEN,
        site_id=SITE,
        base_url=httpserver.url_for("/v1"),
        policy=RetryPolicy(sleep=lambda s: None),
    )
    store = ParquetStore(tmp_path)
    report = backfill_amber(
        store, "2025-01-01", "2025-01-10", kind="usage", client=client, progress=False
    )
    assert report.ok and len(report.windows) == 2
    gen, _ = store.read("amber", "usage", site=SITE, channel="general")
    feed, _ = store.read("amber", "usage", site=SITE, channel="feed_in")
    assert gen["energy_kwh"].sum() == pytest.approx(10 * 48 * 0.4)
    assert feed["energy_kwh"].sum() == pytest.approx(10 * 48 * 0.1)
    assert feed["cost_amount"].sum() == pytest.approx(-10 * 48 * 0.005)
