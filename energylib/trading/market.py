"""Market mechanisms for one interval: pure functions from a book of bids and offers to trades.

Every mechanism takes a :class:`Book` (arrays of bids and offers, any number, one interval)
and :class:`MarketRules` and returns :class:`Trades`.  Nothing else goes in or comes out,
so a mechanism vectorises over households and is tested on its own.

Units and conventions
---------------------
* A **bid** asks for ``bid_kwh`` *delivered* kWh at no more than ``bid_per_kwh`` per
  delivered kWh.  An **offer** can *send* up to ``offer_kwh`` kWh and asks at least
  ``offer_per_kwh`` per sent kWh: the seller's reservation price (what the energy is worth
  to it without the market, e.g. the feed-in credit).
* Transmission loss: of every kWh a seller sends, ``1 - loss_fraction`` arrives; a trade of
  ``delivered_kwh`` makes the seller send ``delivered_kwh / (1 - loss_fraction)``.
* Money: the buyer pays ``price_per_kwh`` per delivered kWh and the seller receives that
  same amount, so per kWh *sent* the seller earns ``price_per_kwh * (1 - loss_fraction)``.
  Payments equal receipts in every trade; nothing is kept by the market.
* Seller's margin (the trading design's 5 % minimum profit): a trade pays the seller at
  least ``reservation + margin * |reservation|`` per sent kWh.  On the delivered basis the
  mechanisms compare bids with the *effective ask*
  ``(reservation + margin * |reservation|) / (1 - loss_fraction)`` (:meth:`MarketRules.ask`).

Mechanisms (:data:`MECHANISMS`)
-------------------------------
``peer_matching`` (:func:`peer_matching`)
    The trading design's instant peer-to-peer matching.  Buyers are served one after the
    other in the coordinator's priority (``bid_priority``, highest first: the
    profitability score), each taking the cheapest remaining offers whose effective ask
    is within its limit.  Each pair trades at the midpoint of the buyer's limit and the
    seller's effective ask (bilateral, discriminatory prices).
``uniform_auction`` (:func:`uniform_auction`)
    Uniform-price double auction, pay-as-clear: bids by limit (highest first) against
    offers by effective ask (lowest first); the volume where the two merit orders cross
    trades at one price, the midpoint of the marginal (last matched) bid and offer.
``continuous_auction`` (:func:`continuous_auction`)
    Continuous double auction, pay-as-bid with price-time priority: orders arrive in
    ``*_arrival`` order; each arriving order trades against the best resting orders on
    the other side (best price first, then earliest), at the *resting* order's price;
    what is left rests in the book.  The sequential part is one numba kernel with two
    binary heaps, ``O(n log n)``.

After any of them no bid and offer with quantity left could still trade with each other
(the book left over is not crossed).  Quantities and prices must be finite; quantities
>= 0 (zero-quantity orders are ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

LOSS_FRACTION = 0.05
SELLER_MARGIN_FRACTION = 0.05
_EPS_KWH = 1e-12


@dataclass(frozen=True)
class MarketRules:
    """Rules every mechanism applies.

    Parameters
    ----------
    loss_fraction : float
        Share of sent energy lost between seller and buyer [0-1) (trading design: 0.05).
    seller_margin_fraction : float
        Minimum profit of a seller over its reservation price [>= 0] (trading design: 0.05).
    """

    loss_fraction: float = LOSS_FRACTION
    seller_margin_fraction: float = SELLER_MARGIN_FRACTION

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss_fraction < 1.0:
            raise ValueError(
                f"MarketRules.loss_fraction must be in [0, 1), got {self.loss_fraction}"
            )
        if not self.seller_margin_fraction >= 0.0:
            raise ValueError(
                f"MarketRules.seller_margin_fraction must be >= 0, got {self.seller_margin_fraction}"
            )

    def min_seller_price(self, reservation_per_kwh: np.ndarray) -> np.ndarray:
        """The least a seller may earn per *sent* kWh [currency/kWh]."""
        r = np.asarray(reservation_per_kwh, dtype=float)
        return r + self.seller_margin_fraction * np.abs(r)

    def ask(self, reservation_per_kwh: np.ndarray) -> np.ndarray:
        """Effective ask per *delivered* kWh of offers with these reservations [currency/kWh]."""
        return self.min_seller_price(reservation_per_kwh) / (1.0 - self.loss_fraction)


@dataclass(frozen=True, eq=False)
class Book:
    """The bids and offers of one interval.

    Parameters
    ----------
    bid_kwh : numpy.ndarray
        Delivered energy each bid wants [kWh].
    bid_per_kwh : numpy.ndarray
        Highest price per delivered kWh [currency/kWh].
    offer_kwh : numpy.ndarray
        Energy each offer can send [kWh].
    offer_per_kwh : numpy.ndarray
        Reservation price per sent kWh, before the seller's margin [currency/kWh].
    bid_priority : numpy.ndarray, optional
        Service order of peer matching, highest first (default: all equal; ties go to the
        higher limit, then the lower index).
    bid_arrival, offer_arrival : numpy.ndarray, optional
        Arrival times (any sortable numbers) for the continuous auction's time priority
        (default: bids by index, then offers by index; ties: bids first, lower index first).
    """

    bid_kwh: np.ndarray
    bid_per_kwh: np.ndarray
    offer_kwh: np.ndarray
    offer_per_kwh: np.ndarray
    bid_priority: np.ndarray | None = None
    bid_arrival: np.ndarray | None = None
    offer_arrival: np.ndarray | None = None

    def __post_init__(self) -> None:
        for side, names in (
            ("bid", ("bid_kwh", "bid_per_kwh", "bid_priority", "bid_arrival")),
            ("offer", ("offer_kwh", "offer_per_kwh", "offer_arrival")),
        ):
            n = np.size(getattr(self, f"{side}_kwh"))
            for name in names:
                value = getattr(self, name)
                if value is None:
                    continue
                arr = np.ascontiguousarray(value, dtype=float)
                object.__setattr__(self, name, arr)
                if arr.shape != (n,):
                    raise ValueError(
                        f"Book.{name} has shape {arr.shape}; every {side} array needs ({n},)"
                    )
                if not np.isfinite(arr).all():
                    raise ValueError(f"Book.{name} holds NaN or inf; every order needs a number")
            if (getattr(self, f"{side}_kwh") < 0).any():
                raise ValueError(f"Book.{side}_kwh must be >= 0 kWh")

    @property
    def n_bids(self) -> int:
        return int(self.bid_kwh.size)

    @property
    def n_offers(self) -> int:
        return int(self.offer_kwh.size)


@dataclass(frozen=True, eq=False)
class Trades:
    """What a mechanism matched: one row per (bid, offer) pair.

    Attributes
    ----------
    bid, offer : numpy.ndarray of int
        Indices into the book's bids and offers.
    delivered_kwh : numpy.ndarray
        Energy the buyer receives [kWh].
    price_per_kwh : numpy.ndarray
        Price per delivered kWh [currency/kWh]; the buyer pays and the seller receives
        ``delivered_kwh * price_per_kwh``.
    loss_fraction : float
        The rules' transmission loss [0-1).
    uniform_price_per_kwh : float
        The clearing price of a uniform-price auction (NaN for the other mechanisms or
        when nothing trades) [currency/kWh].
    """

    bid: np.ndarray
    offer: np.ndarray
    delivered_kwh: np.ndarray
    price_per_kwh: np.ndarray
    loss_fraction: float
    uniform_price_per_kwh: float = float("nan")

    def __len__(self) -> int:
        return int(self.bid.size)

    @property
    def sent_kwh(self) -> np.ndarray:
        """Energy the seller sends per trade [kWh]."""
        return self.delivered_kwh / (1.0 - self.loss_fraction)

    @property
    def loss_kwh(self) -> np.ndarray:
        """Energy lost in transmission per trade [kWh]."""
        return self.sent_kwh - self.delivered_kwh

    @property
    def value(self) -> np.ndarray:
        """Money paid by the buyer to the seller per trade [currency]."""
        return self.delivered_kwh * self.price_per_kwh

    def bought_kwh(self, n_bids: int) -> np.ndarray:
        """Delivered energy per bid [kWh]."""
        return np.bincount(self.bid, self.delivered_kwh, minlength=n_bids)

    def sold_kwh(self, n_offers: int) -> np.ndarray:
        """Sent energy per offer [kWh]."""
        return np.bincount(self.offer, self.sent_kwh, minlength=n_offers)

    def paid(self, n_bids: int) -> np.ndarray:
        """Money paid per bid [currency]."""
        return np.bincount(self.bid, self.value, minlength=n_bids)

    def received(self, n_offers: int) -> np.ndarray:
        """Money received per offer [currency]."""
        return np.bincount(self.offer, self.value, minlength=n_offers)

    @property
    def mean_price_per_kwh(self) -> float:
        """Volume-weighted price per delivered kWh (NaN when nothing traded) [currency/kWh]."""
        total = float(self.delivered_kwh.sum())
        return float(self.value.sum() / total) if total > 0 else float("nan")


def _no_trades(rules: MarketRules) -> Trades:
    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0)
    return Trades(empty_i, empty_i, empty_f, empty_f, rules.loss_fraction)


def _live(q: np.ndarray) -> np.ndarray:
    return np.flatnonzero(q > _EPS_KWH)


def _pairs(
    ends_a: np.ndarray, ends_b: np.ndarray, volume: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlay two partitions of ``[0, volume]`` given by cumulative ends.

    Returns ``(i_a, i_b, length)``: for every piece of the overlay, the index of the segment
    of each partition that covers it, and its length.  Zero-length segments never appear.
    """
    cuts = np.union1d(ends_a[ends_a < volume], ends_b[ends_b < volume])
    cuts = np.append(cuts, volume)
    starts = np.concatenate(([0.0], cuts[:-1]))
    length = cuts - starts
    keep = length > _EPS_KWH
    mid = 0.5 * (starts[keep] + cuts[keep])
    i_a = np.searchsorted(ends_a, mid, side="right")
    i_b = np.searchsorted(ends_b, mid, side="right")
    return i_a, i_b, length[keep]


def _ask_order(book: Book, rules: MarketRules, offers: np.ndarray):
    """Live offers by effective ask (lowest first, ties by index), their asks and cumulative
    deliverable energy [kWh]."""
    ask = rules.ask(book.offer_per_kwh[offers])
    order = np.argsort(ask, kind="stable")
    offers = offers[order]
    ask = ask[order]
    supply = np.cumsum(book.offer_kwh[offers] * (1.0 - rules.loss_fraction))
    return offers, ask, supply


# ------------------------------------------------------------------ uniform-price auction
def uniform_auction(book: Book, rules: MarketRules | None = None) -> Trades:
    """Uniform-price double auction (pay-as-clear) for one interval.

    Bids sorted by limit (highest first) meet offers sorted by effective ask (lowest
    first); the energy where the limit is at least the ask trades, all of it at one price:
    the midpoint of the marginal bid's limit and the marginal offer's effective ask.  So
    every matched bid's limit is >= the price and every matched offer's effective ask is
    <= the price.

    Parameters
    ----------
    book : Book
        The interval's orders.
    rules : MarketRules, optional
        Loss and seller's margin (default: the trading design's 5 % and 5 %).

    Returns
    -------
    Trades
        Pairs in merit order; ``uniform_price_per_kwh`` is the clearing price.
    """
    rules = rules or MarketRules()
    bids = _live(book.bid_kwh)
    offers = _live(book.offer_kwh)
    if bids.size == 0 or offers.size == 0:
        return _no_trades(rules)
    bids = bids[np.argsort(-book.bid_per_kwh[bids], kind="stable")]
    limit = book.bid_per_kwh[bids]
    demand = np.cumsum(book.bid_kwh[bids])
    offers, ask, supply = _ask_order(book, rules, offers)
    i_b, i_o, length = _pairs(demand, supply, float(min(demand[-1], supply[-1])))
    crossed = limit[i_b] >= ask[i_o]
    k = int(np.argmin(crossed)) if not crossed.all() else crossed.size  # crossed is a prefix
    if k == 0:
        return _no_trades(rules)
    i_b, i_o, length = i_b[:k], i_o[:k], length[:k]
    price = 0.5 * (limit[i_b[-1]] + ask[i_o[-1]])
    return Trades(
        bids[i_b], offers[i_o], length, np.full(k, price), rules.loss_fraction, float(price)
    )


# ------------------------------------------------------------------ instant peer matching
@njit(cache=True)
def _serve(take_max: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Cumulative supply used after each buyer, served in order from the cheapest remaining
    offer, each up to ``take_max`` and no further along the supply than ``reach``."""
    ends = np.empty(take_max.size)
    used = 0.0
    for i in range(take_max.size):
        room = reach[i] - used
        if room > 0.0:
            used += min(take_max[i], room)
        ends[i] = used
    return ends


def peer_matching(book: Book, rules: MarketRules | None = None) -> Trades:
    """The trading design's instant peer-to-peer matching for one interval.

    Buyers are served in ``bid_priority`` order (highest first; ties: higher limit, then
    lower index); each takes, up to its quantity, the cheapest remaining offers whose
    effective ask is within its limit.  Each (buyer, seller) pair trades at the midpoint of
    the buyer's limit and the seller's effective ask.

    Parameters
    ----------
    book : Book
        The interval's orders.
    rules : MarketRules, optional
        Loss and seller's margin (default: the trading design's 5 % and 5 %).

    Returns
    -------
    Trades
        Pairs, buyers in service order.
    """
    rules = rules or MarketRules()
    bids = _live(book.bid_kwh)
    offers = _live(book.offer_kwh)
    if bids.size == 0 or offers.size == 0:
        return _no_trades(rules)
    priority = np.zeros(book.n_bids) if book.bid_priority is None else book.bid_priority
    bids = bids[np.lexsort((bids, -book.bid_per_kwh[bids], -priority[bids]))]
    limit = book.bid_per_kwh[bids]
    offers, ask, supply = _ask_order(book, rules, offers)
    reach = np.concatenate(([0.0], supply))[np.searchsorted(ask, limit, side="right")]
    ends = _serve(book.bid_kwh[bids], reach)
    volume = float(ends[-1])
    if volume <= _EPS_KWH:
        return _no_trades(rules)
    i_b, i_o, length = _pairs(ends, supply, volume)
    price = 0.5 * (limit[i_b] + ask[i_o])
    return Trades(bids[i_b], offers[i_o], length, price, rules.loss_fraction)


# ------------------------------------------------------------------ continuous auction
@njit(cache=True)
def _before(heap_key: np.ndarray, rank: np.ndarray, a: int, b: int) -> bool:
    return heap_key[a] < heap_key[b] or (heap_key[a] == heap_key[b] and rank[a] < rank[b])


@njit(cache=True)
def _push(heap: np.ndarray, size: int, item: int, key: np.ndarray, rank: np.ndarray) -> int:
    heap[size] = item
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if _before(key, rank, heap[i], heap[parent]):
            heap[i], heap[parent] = heap[parent], heap[i]
            i = parent
        else:
            break
    return size + 1


@njit(cache=True)
def _pop(heap: np.ndarray, size: int, key: np.ndarray, rank: np.ndarray) -> int:
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and _before(key, rank, heap[left + 1], heap[left]):
            child = left + 1
        if _before(key, rank, heap[child], heap[i]):
            heap[i], heap[child] = heap[child], heap[i]
            i = child
        else:
            break
    return size


@njit(cache=True)
def _continuous(n_bids: int, price: np.ndarray, qty: np.ndarray, sequence: np.ndarray):
    """Price-time priority matching.  Orders ``0 .. n_bids-1`` are bids, the rest offers
    (price = limit or effective ask per delivered kWh, qty in delivered kWh); ``sequence``
    is the arrival order.  Trades happen at the resting order's price."""
    n = price.size
    rank = np.empty(n, dtype=np.int64)
    for s in range(n):
        rank[sequence[s]] = s
    # heap keys: bids by highest price (negated), offers by lowest price; then earliest rank
    key = np.where(np.arange(n) < n_bids, -price, price)
    left = qty.copy()
    bid_heap = np.empty(n, dtype=np.int64)
    ask_heap = np.empty(n, dtype=np.int64)
    n_bid_heap = 0
    n_ask_heap = 0
    t_bid = np.empty(n, dtype=np.int64)
    t_offer = np.empty(n, dtype=np.int64)
    t_kwh = np.empty(n)
    t_price = np.empty(n)
    k = 0
    for s in range(n):
        o = sequence[s]
        if o < n_bids:
            while left[o] > 1e-12 and n_ask_heap > 0:
                a = ask_heap[0]
                if price[a] > price[o]:
                    break
                q = min(left[o], left[a])
                t_bid[k] = o
                t_offer[k] = a - n_bids
                t_kwh[k] = q
                t_price[k] = price[a]
                k += 1
                left[o] -= q
                left[a] -= q
                if left[a] <= 1e-12:
                    n_ask_heap = _pop(ask_heap, n_ask_heap, key, rank)
            if left[o] > 1e-12:
                n_bid_heap = _push(bid_heap, n_bid_heap, o, key, rank)
        else:
            while left[o] > 1e-12 and n_bid_heap > 0:
                b = bid_heap[0]
                if price[b] < price[o]:
                    break
                q = min(left[o], left[b])
                t_bid[k] = b
                t_offer[k] = o - n_bids
                t_kwh[k] = q
                t_price[k] = price[b]
                k += 1
                left[o] -= q
                left[b] -= q
                if left[b] <= 1e-12:
                    n_bid_heap = _pop(bid_heap, n_bid_heap, key, rank)
            if left[o] > 1e-12:
                n_ask_heap = _push(ask_heap, n_ask_heap, o, key, rank)
    return t_bid[:k], t_offer[:k], t_kwh[:k], t_price[:k]


def continuous_auction(book: Book, rules: MarketRules | None = None) -> Trades:
    """Continuous double auction (pay-as-bid, price-time priority) for one interval.

    Orders arrive by ``bid_arrival`` / ``offer_arrival`` (ties: bids before offers, then
    by index).  An arriving bid trades with the resting offers of lowest effective ask
    (earliest first among equal asks) while that ask is within its limit, at the offer's
    effective ask; an arriving offer trades with the resting bids of highest limit at the
    bid's limit.  What is not matched rests in the book until the interval closes.

    Parameters
    ----------
    book : Book
        The interval's orders.
    rules : MarketRules, optional
        Loss and seller's margin (default: the trading design's 5 % and 5 %).

    Returns
    -------
    Trades
        Pairs in the order they were struck.
    """
    rules = rules or MarketRules()
    bids = _live(book.bid_kwh)
    offers = _live(book.offer_kwh)
    if bids.size == 0 or offers.size == 0:
        return _no_trades(rules)
    nb = bids.size
    price = np.concatenate((book.bid_per_kwh[bids], rules.ask(book.offer_per_kwh[offers])))
    qty = np.concatenate((book.bid_kwh[bids], book.offer_kwh[offers] * (1.0 - rules.loss_fraction)))
    arrival = np.concatenate(
        (
            bids.astype(float) if book.bid_arrival is None else book.bid_arrival[bids],
            (book.n_bids + offers).astype(float)
            if book.offer_arrival is None
            else book.offer_arrival[offers],
        )
    )
    side = np.concatenate((np.zeros(nb), np.ones(offers.size)))
    index = np.concatenate((bids, offers)).astype(float)
    sequence = np.lexsort((index, side, arrival)).astype(np.int64)
    t_bid, t_offer, t_kwh, t_price = _continuous(nb, price, qty, sequence)
    return Trades(bids[t_bid], offers[t_offer], t_kwh, t_price, rules.loss_fraction)


Mechanism = Callable[[Book, MarketRules], Trades]

MECHANISMS: dict[str, Mechanism] = {
    "peer_matching": peer_matching,
    "uniform_auction": uniform_auction,
    "continuous_auction": continuous_auction,
}


def mechanism(name: str) -> Mechanism:
    """The mechanism called ``name`` (one of :data:`MECHANISMS`)."""
    try:
        return MECHANISMS[name]
    except KeyError:
        raise ValueError(
            f"unknown market mechanism {name!r}; use one of {sorted(MECHANISMS)}"
        ) from None
