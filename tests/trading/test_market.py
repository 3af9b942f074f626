"""The three market mechanisms over random books (hypothesis) and hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.trading.market import (
    MECHANISMS,
    Book,
    MarketRules,
    continuous_auction,
    mechanism,
    peer_matching,
    uniform_auction,
)

TOL = 1e-9
SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def books(draw, max_orders: int = 12):
    """A random interval: bids capped at a retail price, offers floored at a feed-in credit."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nb = draw(st.integers(0, max_orders))
    no = draw(st.integers(0, max_orders))
    retail = draw(st.floats(0.05, 0.6))
    feed_in = draw(st.floats(-0.1, 0.2))
    zero_share = draw(st.sampled_from([0.0, 0.3]))

    def qty(n):
        q = rng.uniform(0.0, 5.0, n)
        return np.where(rng.random(n) < zero_share, 0.0, q)

    # limits at or below the retail price; reservations at or above the feed-in credit (>= 0);
    # some ties on purpose (rounding)
    bid_per_kwh = retail - np.round(rng.uniform(0, 0.3, nb) * rng.integers(0, 2, nb), 2)
    floor = max(feed_in, 0.0)
    offer_per_kwh = floor + np.round(rng.uniform(0, 0.3, no) * rng.integers(0, 2, no), 2)
    book = Book(
        qty(nb),
        bid_per_kwh,
        qty(no),
        offer_per_kwh,
        bid_priority=rng.integers(0, 3, nb).astype(float),
        bid_arrival=rng.random(nb),
        offer_arrival=rng.random(no),
    )
    rules = MarketRules(draw(st.sampled_from([0.0, 0.05, 0.2])), draw(st.sampled_from([0.0, 0.05])))
    return book, rules, retail, floor


def all_trades(book, rules):
    return {name: fn(book, rules) for name, fn in MECHANISMS.items()}


@SETTINGS
@given(books())
def test_energy_is_conserved_sold_equals_bought_over_one_minus_loss_plus_losses(case):
    book, rules, _, _ = case
    for name, tr in all_trades(book, rules).items():
        sent = tr.sold_kwh(book.n_offers)
        bought = tr.bought_kwh(book.n_bids)
        # every kWh accounted for: what sellers send arrives or is lost
        assert sent.sum() == pytest.approx(bought.sum() / (1 - rules.loss_fraction), abs=TOL), name
        assert sent.sum() == pytest.approx(bought.sum() + tr.loss_kwh.sum(), abs=TOL), name
        assert tr.loss_kwh.sum() == pytest.approx(rules.loss_fraction * sent.sum(), abs=TOL), name
        # nobody trades more than it asked for or offered
        assert (bought <= book.bid_kwh + TOL).all(), name
        assert (sent <= book.offer_kwh + TOL).all(), name
        assert (tr.delivered_kwh > 0).all(), name


@SETTINGS
@given(books())
def test_money_is_conserved_payments_equal_receipts(case):
    book, rules, _, _ = case
    for name, tr in all_trades(book, rules).items():
        paid = tr.paid(book.n_bids)
        received = tr.received(book.n_offers)
        assert paid.sum() == pytest.approx(received.sum(), abs=TOL), name
        assert paid.sum() == pytest.approx((tr.delivered_kwh * tr.price_per_kwh).sum(), abs=TOL)


@SETTINGS
@given(books())
def test_no_trade_breaks_a_buyers_limit_or_the_sellers_margin(case):
    book, rules, _, _ = case
    for name, tr in all_trades(book, rules).items():
        assert (tr.price_per_kwh <= book.bid_per_kwh[tr.bid] + TOL).all(), name
        least = rules.min_seller_price(book.offer_per_kwh[tr.offer])
        per_sent = tr.value / tr.sent_kwh
        assert (per_sent >= least - TOL).all(), name


@SETTINGS
@given(books())
def test_individual_rationality_no_one_does_worse_than_with_the_grid(case):
    """Bids at most the retail price, offers at least the feed-in credit: every buyer pays
    at most what the grid would charge and every seller earns at least what exporting would."""
    book, rules, retail, floor = case
    for name, tr in all_trades(book, rules).items():
        bought = tr.bought_kwh(book.n_bids)
        sent = tr.sold_kwh(book.n_offers)
        assert (tr.paid(book.n_bids) <= retail * bought + TOL).all(), name
        assert (tr.received(book.n_offers) >= floor * sent - TOL).all(), name


@SETTINGS
@given(books())
def test_the_book_left_over_is_not_crossed(case):
    """No bid and offer with quantity left could still trade with each other."""
    book, rules, _, _ = case
    ask = rules.ask(book.offer_per_kwh)
    for name, tr in all_trades(book, rules).items():
        bid_left = book.bid_kwh - tr.bought_kwh(book.n_bids) > 1e-7
        offer_left = book.offer_kwh - tr.sold_kwh(book.n_offers) > 1e-7
        if bid_left.any() and offer_left.any():
            assert book.bid_per_kwh[bid_left].max() < ask[offer_left].min() + TOL, name


@SETTINGS
@given(books())
def test_uniform_price_lies_between_the_marginal_bid_and_offer(case):
    book, rules, _, _ = case
    tr = uniform_auction(book, rules)
    if len(tr) == 0:
        assert np.isnan(tr.uniform_price_per_kwh)
        return
    p = tr.uniform_price_per_kwh
    assert np.all(tr.price_per_kwh == p)
    limits = book.bid_per_kwh[tr.bid]
    asks = rules.ask(book.offer_per_kwh[tr.offer])
    # the last pair in merit order is the marginal one
    assert asks[-1] - TOL <= p <= limits[-1] + TOL
    assert p == pytest.approx(0.5 * (limits[-1] + asks[-1]))
    # every matched bid can afford it, every matched offer is paid at least its ask
    assert (limits >= p - TOL).all() and (asks <= p + TOL).all()


@SETTINGS
@given(books())
def test_same_book_same_trades(case):
    book, rules, _, _ = case
    for name in MECHANISMS:
        a, b = mechanism(name)(book, rules), mechanism(name)(book, rules)
        for field in ("bid", "offer", "delivered_kwh", "price_per_kwh"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=name)


def test_continuous_auction_gives_price_time_priority_at_the_resting_price():
    rules = MarketRules(0.0, 0.0)
    # two asks at 0.10 (the later one arrived first), one at 0.08; then a bid for 3 kWh at 0.20
    book = Book(
        bid_kwh=np.array([3.0]),
        bid_per_kwh=np.array([0.20]),
        offer_kwh=np.array([1.0, 1.0, 1.0]),
        offer_per_kwh=np.array([0.10, 0.10, 0.08]),
        bid_arrival=np.array([10.0]),
        offer_arrival=np.array([2.0, 1.0, 3.0]),
    )
    tr = continuous_auction(book, rules)
    # best price first (offer 2), then among equal prices the earliest (offer 1, then 0)
    assert tr.offer.tolist() == [2, 1, 0]
    np.testing.assert_allclose(tr.price_per_kwh, [0.08, 0.10, 0.10])  # pay-as-bid: resting asks
    # an offer arriving after a resting bid trades at the bid's limit
    later = Book(np.array([1.0]), np.array([0.30]), np.array([1.0]), np.array([0.05]),
                 bid_arrival=np.array([0.0]), offer_arrival=np.array([1.0]))  # fmt: skip
    np.testing.assert_allclose(continuous_auction(later, rules).price_per_kwh, [0.30])


def test_peer_matching_serves_buyers_by_priority_and_splits_each_pair_at_the_midpoint():
    rules = MarketRules(0.0, 0.0)
    book = Book(
        bid_kwh=np.array([1.0, 1.0]),
        bid_per_kwh=np.array([0.30, 0.20]),
        offer_kwh=np.array([1.0]),
        offer_per_kwh=np.array([0.10]),
        bid_priority=np.array([0.0, 90.0]),  # the cheaper bid has the higher score
    )
    tr = peer_matching(book, rules)
    assert tr.bid.tolist() == [1]
    np.testing.assert_allclose(tr.price_per_kwh, [0.15])
    # the uniform auction gives the same energy to the higher limit instead
    assert uniform_auction(book, rules).bid.tolist() == [0]


def test_loss_and_margin_raise_the_effective_ask():
    rules = MarketRules(loss_fraction=0.05, seller_margin_fraction=0.05)
    np.testing.assert_allclose(rules.ask(np.array([0.10, -0.10])), [0.105 / 0.95, -0.095 / 0.95])
    # a bid between the reservation and the effective ask does not trade
    book = Book(np.array([1.0]), np.array([0.108]), np.array([1.0]), np.array([0.10]))
    for fn in MECHANISMS.values():
        assert len(fn(book, rules)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bid_kwh": np.array([-1.0])}, "bid_kwh must be >= 0"),
        ({"bid_per_kwh": np.array([np.nan])}, "NaN or inf"),
        ({"offer_per_kwh": np.array([0.1, 0.2])}, r"needs \(1,\)"),
    ],
)
def test_bad_books_are_refused_with_the_field_named(kwargs, match):
    base = {
        "bid_kwh": np.array([1.0]),
        "bid_per_kwh": np.array([0.2]),
        "offer_kwh": np.array([1.0]),
        "offer_per_kwh": np.array([0.1]),
    }
    with pytest.raises(ValueError, match=match):
        Book(**{**base, **kwargs})


def test_unknown_mechanism_names_the_known_ones():
    with pytest.raises(ValueError, match="continuous_auction"):
        mechanism("sealed_bid")
