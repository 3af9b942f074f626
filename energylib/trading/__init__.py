"""Community energy trading: households with solar and batteries trade energy with each other.

The transformer trading system's market, built on the library's own parts (the dispatch
module's :class:`~energylib.dispatch.assets.Battery` and
:class:`~energylib.dispatch.assets.GridLimits`, the tariff module's prices, the dispatch LP
layer and HiGHS) and on Dask for scale.

Modules
-------
:mod:`~energylib.trading.market`
    The mechanisms, pure functions over one interval's :class:`Book` of bids and offers:
    ``peer_matching`` (the design's instant matching, 5 % loss, 5 % seller margin),
    ``uniform_auction`` (pay-as-clear) and ``continuous_auction`` (pay-as-bid,
    price-time priority).
:mod:`~energylib.trading.score`
    The profitability score 0-100, the GREEN / RED power-need signal and the design's rule
    (BUY / SELL when the score passes 75).
:mod:`~energylib.trading.node`
    Households as arrays: batteries, forecasts (perfect, persistence or a forecaster's).
:mod:`~energylib.trading.homes`
    The year a community trades in (:class:`MarketYear`: calendar, grid prices, weather) and
    its homes (:class:`Community`): CityLearn, SGSC with modelled PV, or generated.
:mod:`~energylib.trading.community`
    The simulation (forecast, score, bid or offer, clear, move batteries, the grid takes the
    rest) and its tidy result frames; :func:`run_community`.
:mod:`~energylib.trading.optimum`
    The cooperative optimum: one LP over every home's battery with free exchange (the bound).
:mod:`~energylib.trading.distributed`
    Feeders and scenarios on Dask's distributed scheduler (a LocalCluster or any address).
:mod:`~energylib.trading.study`
    A study from ``params/community_*.yaml`` (``energy market``, notebook 04).
Its Altair charts are :mod:`energylib.plots.trading`.
"""
