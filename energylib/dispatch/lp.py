"""A small vectorised linear-programming layer, so the optimum reads like the maths.

In the spirit of linopy: a :class:`Model` holds variables that are arrays over the
intervals; arithmetic on them builds linear expressions; comparisons build constraints
(one row per interval, optionally masked), and :meth:`Model.solve` hands the sparse
problem to HiGHS through ``highspy`` (kept, so a re-solve after changing bounds
warm-starts from the last basis).

>>> m = Model(n)
>>> soc = m.variable("soc", lower=lo, upper=hi)
>>> c = m.variable("charge", upper=c_max)
>>> m.constrain("soc dynamics", soc - soc.shift(1) - eta * c == rhs)
>>> m.minimise(price @ c)
>>> sol = m.solve()
>>> sol["soc"]

``x.shift(k)`` is ``x[t - k]`` in row t; rows where ``t - k`` falls outside the series drop
that term (the caller puts the initial value on the right-hand side).

Build once, solve many times: after a first :meth:`Model.solve`, :meth:`Model.set_bounds`,
:meth:`Model.set_rhs` and :meth:`Model.minimise` change the data in the HiGHS model in place,
and the next :meth:`Model.solve` starts from the last optimal basis (rolling windows and
model-predictive control re-solve the same structure with the next window's numbers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp


class InfeasibleError(RuntimeError):
    """The solver found no solution; the message carries HiGHS's status."""


@dataclass(frozen=True)
class Term:
    var: Variable
    coef: np.ndarray  # per row
    shift: int = 0


@dataclass(frozen=True)
class Expr:
    """Sum over terms ``coef[t] * var[t - shift]``, per row t, plus a constant array."""

    terms: tuple[Term, ...]
    const: np.ndarray
    # numpy must hand ``array * expr`` to our reflected operators, not loop over the array
    __array_ufunc__ = None

    def __add__(self, other) -> Expr:
        o = _as_expr(other, self.const.size)
        return Expr(self.terms + o.terms, self.const + o.const)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return Expr(tuple(Term(t.var, -t.coef, t.shift) for t in self.terms), -self.const)

    def __sub__(self, other) -> Expr:
        return self + (-_as_expr(other, self.const.size))

    def __rsub__(self, other) -> Expr:
        return (-self) + other

    def __mul__(self, k) -> Expr:
        k = np.broadcast_to(np.asarray(k, dtype=float), self.const.shape)
        return Expr(tuple(Term(t.var, t.coef * k, t.shift) for t in self.terms), self.const * k)

    __rmul__ = __mul__

    def __truediv__(self, k) -> Expr:
        return self * (1.0 / np.asarray(k, dtype=float))

    def __eq__(self, rhs) -> Constraint:  # type: ignore[override]
        return Constraint(self - rhs, "==")

    def __le__(self, rhs) -> Constraint:
        return Constraint(self - rhs, "<=")

    def __ge__(self, rhs) -> Constraint:
        return Constraint(self - rhs, ">=")

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class Variable:
    """A variable per interval: ``offset .. offset + n`` in the solver's column space."""

    name: str
    offset: int
    n: int
    lower: np.ndarray
    upper: np.ndarray
    __array_ufunc__ = None

    def expr(self) -> Expr:
        return Expr((Term(self, np.ones(self.n), 0),), np.zeros(self.n))

    def shift(self, k: int = 1) -> Expr:
        """``x[t - k]`` in row t (dropped where t - k is outside the series)."""
        return Expr((Term(self, np.ones(self.n), k),), np.zeros(self.n))

    def __add__(self, o):
        return self.expr() + o

    __radd__ = __add__

    def __sub__(self, o):
        return self.expr() - o

    def __rsub__(self, o):
        return o - self.expr()

    def __neg__(self):
        return -self.expr()

    def __mul__(self, k):
        return self.expr() * k

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self.expr() / k

    def __eq__(self, rhs):  # type: ignore[override]
        return self.expr() == rhs

    def __le__(self, rhs):
        return self.expr() <= rhs

    def __ge__(self, rhs):
        return self.expr() >= rhs

    __hash__ = object.__hash__


def _as_expr(x, n: int) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, Variable):
        return x.expr()
    return Expr((), np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy())


@dataclass
class Constraint:
    """``expr (sense) 0`` per row."""

    expr: Expr
    sense: str


@dataclass
class Solution:
    """Variable values by name, the objective and HiGHS's status message."""

    values: dict[str, np.ndarray]
    objective: float
    message: str
    seconds: float = 0.0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]


#: HiGHS options the optimum's models use.  Presolve is off: these LPs have no redundancy
#: for it to remove (every bound and row is one physical limit), and on a year of hourly
#: battery dispatch it costs more than it saves (see tests/bench/test_bench_scenario.py).
DEFAULT_HIGHS_OPTIONS = {"presolve": "off"}


@dataclass
class Model:
    """A linear programme over ``n`` intervals.

    Parameters
    ----------
    n : int
        Rows per constraint (intervals).
    highs_options : dict, optional
        HiGHS options (name -> value) set before each solve; default
        :data:`DEFAULT_HIGHS_OPTIONS`.
    """

    n: int
    highs_options: dict = field(default_factory=lambda: dict(DEFAULT_HIGHS_OPTIONS))
    variables: dict[str, Variable] = field(default_factory=dict)
    _rows: list[tuple[str, Constraint, np.ndarray]] = field(default_factory=list)
    _row_offsets: dict[str, int] = field(default_factory=dict)
    _rhs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _objective: Expr | None = None
    _costs: np.ndarray | None = None  # the objective as column costs (set_columns)
    _highs: highspy.Highs | None = None

    def variable(self, name: str, lower=0.0, upper=np.inf) -> Variable:
        """Add a variable per interval with bounds (scalars or arrays; ``inf`` = none)."""
        if name in self.variables:
            raise ValueError(f"variable {name!r} already defined")
        offset = sum(v.n for v in self.variables.values())
        lo = np.broadcast_to(np.asarray(lower, dtype=float), (self.n,)).copy()
        hi = np.broadcast_to(np.asarray(upper, dtype=float), (self.n,)).copy()
        if (lo > hi + 1e-12).any():
            bad = np.flatnonzero(lo > hi + 1e-12)
            raise ValueError(
                f"variable {name!r}: lower bound above upper bound at rows {bad[:5].tolist()}"
            )
        v = Variable(name, offset, self.n, lo, hi)
        self.variables[name] = v
        return v

    def constrain(self, name: str, constraint: Constraint, where: np.ndarray | None = None) -> None:
        """Add one row per interval (only where ``where`` is true)."""
        if self._highs is not None:
            raise RuntimeError("constrain() after the first solve(): build a new Model")
        if any(name == r[0] for r in self._rows):
            raise ValueError(f"constraint {name!r} already defined")
        mask = np.ones(self.n, dtype=bool) if where is None else np.asarray(where, dtype=bool)
        if mask.any():
            self._rows.append((name, constraint, mask))

    def minimise(self, objective: Expr) -> None:
        """Objective: the sum over rows of the expression (replaces the previous one)."""
        self._objective = _as_expr(objective, self.n)
        self._costs = None
        if self._highs is not None:
            cost = self._cost()
            self._highs.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)

    def set_bounds(self, name: str, lower=None, upper=None) -> None:
        """New bounds of variable ``name`` (scalars or arrays; ``None`` keeps them)."""
        v = self.variables[name]
        if lower is not None:
            v.lower[:] = np.broadcast_to(np.asarray(lower, dtype=float), (self.n,))
        if upper is not None:
            v.upper[:] = np.broadcast_to(np.asarray(upper, dtype=float), (self.n,))
        if (v.lower > v.upper + 1e-12).any():
            bad = np.flatnonzero(v.lower > v.upper + 1e-12)
            raise ValueError(
                f"variable {name!r}: lower bound above upper bound at rows {bad[:5].tolist()}"
            )
        if self._highs is not None:
            inf = highspy.kHighsInf
            cols = np.arange(v.offset, v.offset + v.n, dtype=np.int32)
            self._highs.changeColsBounds(
                v.n, cols, v.lower.clip(-inf, inf), v.upper.clip(-inf, inf)
            )

    def set_columns(self, bounds: dict, costs: dict) -> None:
        """New bounds and objective of many variables at once, in one HiGHS call each.

        ``bounds`` maps a variable's name to ``(lower, upper)`` (scalars or arrays; ``None``
        keeps a side); variables left out keep theirs.  ``costs`` maps a variable's name to
        its cost per row (scalar or array): the objective becomes ``sum(cost * var)`` over
        them (the others cost 0).  The same as :meth:`set_bounds` per variable and
        :meth:`minimise` with the sum, without building expressions: what a rolling window
        or a model-predictive controller does before every solve.
        """
        for name, (lower, upper) in bounds.items():
            v = self.variables[name]
            if lower is not None:
                v.lower[:] = lower
            if upper is not None:
                v.upper[:] = upper
            if (v.lower > v.upper + 1e-12).any():
                bad = np.flatnonzero(v.lower > v.upper + 1e-12)
                raise ValueError(
                    f"variable {name!r}: lower bound above upper bound at rows {bad[:5].tolist()}"
                )
        nvar = sum(v.n for v in self.variables.values())
        cost = np.zeros(nvar)
        for name, c in costs.items():
            v = self.variables[name]
            cost[v.offset : v.offset + v.n] = c
        self._objective, self._costs = None, cost
        if self._highs is not None:
            inf = highspy.kHighsInf
            cols = np.arange(nvar, dtype=np.int32)
            lo = np.concatenate([v.lower for v in self.variables.values()]).clip(-inf, inf)
            hi = np.concatenate([v.upper for v in self.variables.values()]).clip(-inf, inf)
            self._highs.changeColsBounds(nvar, cols, lo, hi)
            self._highs.changeColsCost(nvar, cols, cost)

    def set_rhs(self, name: str, rhs, lower=None, upper=None) -> None:
        """New constant side of constraint ``name``: its rows read ``A x (sense) rhs``.

        ``rhs`` is one value per interval (rows outside the constraint's ``where`` ignore
        theirs).  For a ``>=`` or ``<=`` row, ``lower`` / ``upper`` may instead give both
        sides (``-inf`` / ``inf`` leave a side open, which switches a row off).
        """
        try:
            sense, mask = next((con.sense, w) for n_, con, w in self._rows if n_ == name)
        except StopIteration:
            raise KeyError(f"no constraint {name!r}") from None
        rows = np.flatnonzero(mask)
        k = rows.size
        value = np.broadcast_to(np.asarray(rhs, dtype=float), (self.n,))[rows]
        lo = np.full(k, -np.inf) if sense == "<=" else value.copy()
        hi = np.full(k, np.inf) if sense == ">=" else value.copy()
        if lower is not None:
            lo = np.broadcast_to(np.asarray(lower, dtype=float), (self.n,))[rows]
        if upper is not None:
            hi = np.broadcast_to(np.asarray(upper, dtype=float), (self.n,))[rows]
        if self._highs is None:  # applied when the model is built
            self._rhs[name] = (lo, hi)
            return
        inf = highspy.kHighsInf
        first = self._row_offsets[name]
        self._highs.changeRowsBounds(
            k, np.arange(first, first + k, dtype=np.int32), lo.clip(-inf, inf), hi.clip(-inf, inf)
        )

    # ------------------------------------------------------------------ assembly
    def _matrix(self):
        """All rows as one CSC matrix with row bounds ``lower <= A x <= upper``."""
        nvar = sum(v.n for v in self.variables.values())
        rows, cols, vals, lower, upper = [], [], [], [], []
        r0 = 0
        t = np.arange(self.n)
        for name, con, mask in self._rows:
            self._row_offsets[name] = r0
            row_of = np.cumsum(mask) - 1 + r0  # row index for each masked t
            for term in con.expr.terms:
                src = t - term.shift
                ok = mask & (src >= 0) & (src < self.n) & (term.coef != 0)
                rows.append(row_of[ok])
                cols.append(term.var.offset + src[ok])
                vals.append(term.coef[ok])
            rhs = -con.expr.const[mask]
            if name in self._rhs:
                lower.append(self._rhs[name][0])
                upper.append(self._rhs[name][1])
            else:
                lower.append(rhs if con.sense in ("==", ">=") else np.full(rhs.size, -np.inf))
                upper.append(rhs if con.sense in ("==", "<=") else np.full(rhs.size, np.inf))
            r0 += int(mask.sum())
        if not vals:  # bounds only
            return sp.csc_matrix((0, nvar)), np.zeros(0), np.zeros(0)
        a = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r0, nvar)
        )
        return a, np.concatenate(lower), np.concatenate(upper)

    def _cost(self) -> np.ndarray:
        if self._costs is not None:
            return self._costs
        if self._objective is None:
            raise ValueError("no objective: call Model.minimise(...) first")
        cost = np.zeros(sum(v.n for v in self.variables.values()))
        for term in self._objective.terms:
            if term.shift:
                raise ValueError("shifted terms are not allowed in the objective")
            cost[term.var.offset : term.var.offset + self.n] += term.coef
        return cost

    def _build(self) -> highspy.Highs:
        cost = self._cost()
        nvar = cost.size
        a, lo, hi = self._matrix()
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = nvar
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = cost
        lp.col_lower_ = np.concatenate([v.lower for v in self.variables.values()]).clip(-inf, inf)
        lp.col_upper_ = np.concatenate([v.upper for v in self.variables.values()]).clip(-inf, inf)
        lp.row_lower_ = lo.clip(-inf, inf)
        lp.row_upper_ = hi.clip(-inf, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        for key, value in self.highs_options.items():
            h.setOptionValue(key, value)
        h.passModel(lp)
        return h

    def fix_upper(self, name: str, where: np.ndarray, value: float = 0.0) -> None:
        """Set the upper bound of variable ``name`` to ``value`` where ``where`` (keeps the
        solver's basis, so the next :meth:`solve` warm-starts)."""
        v = self.variables[name]
        idx = np.flatnonzero(where)
        if idx.size == 0:
            return
        v.upper[idx] = value
        if self._highs is not None:
            cols = (v.offset + idx).astype(np.int32)
            lower = v.lower[idx].clip(-highspy.kHighsInf, highspy.kHighsInf)
            self._highs.changeColsBounds(idx.size, cols, lower, np.full(idx.size, value))

    def solve(self, *, time_limit_s: float | None = None) -> Solution:
        """Solve with HiGHS (dual simplex); raise :class:`InfeasibleError` when there is no optimum."""
        if self._highs is None:
            self._highs = self._build()
        h = self._highs
        if time_limit_s is not None:
            h.setOptionValue("time_limit", float(time_limit_s))
        t0 = time.perf_counter()
        h.run()
        status = h.getModelStatus()
        if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible):
            # A re-solve from the last basis can end without a status ("Unknown": HiGHS gave
            # up on its warm start); solve that once more from scratch.
            h.clearSolver()
            h.run()
            status = h.getModelStatus()
        secs = time.perf_counter() - t0
        message = h.modelStatusToString(status)
        if status != highspy.HighsModelStatus.kOptimal:
            names = ", ".join(name for name, _, _ in self._rows)
            raise InfeasibleError(f"HiGHS: {message} (constraints: {names})")
        x = np.asarray(h.getSolution().col_value)
        values = {name: x[v.offset : v.offset + v.n] for name, v in self.variables.items()}
        const = self._objective.const.sum() if self._objective is not None else 0.0
        obj = float(h.getInfo().objective_function_value + const)
        return Solution(values, obj, message, secs)
