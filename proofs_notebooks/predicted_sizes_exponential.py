# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exponential sizes: closed forms with sympy, with and without predictions
#
# This notebook derives with `sympy` the closed forms behind
# `qtheory.analysis.symbolic` (`method="symbolic"`) and checks that the
# double-precision quadrature engine (`method="quad"`) reproduces them to
# $10^{-10}$ (relative).
#
# **Sources**
#
# * M/G/1 formulas for FCFS, PS, SJF, PSJF, SRPT and FB: M. Harchol-Balter,
#   *Performance Modeling and Design of Computer Systems*, Cambridge University
#   Press (2013), ch. 23–33; L. Schrage and L. Miller, "The queue M/G/1 with the
#   shortest remaining processing time discipline", *Oper. Res.* 14 (1966).
# * Predictions: M. Mitzenmacher, "Scheduling with Predictions and the Price of
#   Misprediction", ITCS 2020, arXiv:1902.00732 (SPJF, and the exponential
#   prediction model $Y \mid X = x \sim \mathrm{Exp}(\text{mean } x)$ with its
#   Bessel-K forms).
# * PSPJF and SPRPT means: derived with SOAP (Scully, Harchol-Balter,
#   Scheller-Wolf, "SOAP: One Clean Analysis of All Age-Based Scheduling
#   Policies", POMACS 2018); see `shared/reference/formulas.md`.
# * Bessel integral: DLMF 10.32.10,
#   $\int_0^\infty x^{\nu-1} e^{-x-y/x}\,dx = 2y^{\nu/2}K_\nu(2\sqrt y)$.
#
# Notation: Poisson arrivals at rate $\lambda$, size $X$ with density $f$, load
# $\rho = \lambda E[X]$, $\rho_x = \lambda\int_0^x t f(t)\,dt$.

# %%
import pathlib
import sys
import time

try:
    import qtheory  # noqa: F401
except ImportError:  # run from proofs_notebooks/: use the checkout
    sys.path.insert(0, str(pathlib.Path.cwd().parent))

import mpmath as mp
import sympy as sp
from IPython.display import display

import qtheory as qt
from qtheory.analysis import symbolic as S

T0 = time.time()
x, t, y, u, z, mu, lam, m = (S.SYMBOLS[k] for k in ("x", "t", "y", "u", "z", "mu", "lam", "m"))
RTOL = 1e-10


def rel(a, b):
    return abs(a - b) / abs(b)


# %% [markdown]
# ## 1. The M/M/1 queue
#
# Size $X \sim \mathrm{Exp}(\mu)$. The load of jobs of size at most $x$, and the
# second partial moment, from `sympy.integrate`:

# %%
f = mu * sp.exp(-mu * x)
rho_x = sp.simplify(lam * sp.integrate(t * f.subs(x, t), (t, 0, x)))
S2_x = sp.simplify(sp.integrate(t**2 * f.subs(x, t), (t, 0, x)))
EX = sp.integrate(x * f, (x, 0, sp.oo))
EX2 = sp.integrate(x**2 * f, (x, 0, sp.oo))
display(sp.Eq(sp.Symbol(r"\rho_x"), rho_x), sp.Eq(sp.Symbol(r"E[X^2;X\le x]"), S2_x))
assert sp.simplify(rho_x - lam / mu * (1 - (1 + mu * x) * sp.exp(-mu * x))) == 0
assert (EX, EX2) == (1 / mu, 2 / mu**2)
# the package derives the same expressions
e = S.mm1_expressions()
assert sp.simplify(e["rho_x"] - rho_x) == 0 and sp.simplify(e["S2_x"] - S2_x) == 0

# %% [markdown]
# **FCFS and PS** are exact: Pollaczek–Khinchine
# $E[T] = E[X] + \lambda E[X^2]/(2(1-\rho))$ and $E[T] = E[X]/(1-\rho)$ both
# reduce to $1/(\mu-\lambda)$.

# %%
rho = lam / mu
T_fcfs = sp.simplify(EX + lam * EX2 / (2 * (1 - rho)))
T_ps = sp.simplify(EX / (1 - rho))
display(T_fcfs, T_ps)
assert sp.simplify(T_fcfs - 1 / (mu - lam)) == 0 and sp.simplify(T_ps - 1 / (mu - lam)) == 0

# %% [markdown]
# **SJF** (non-preemptive, true sizes):
# $E[T(x)] = x + \dfrac{\lambda E[X^2]}{2(1-\rho_x)^2}$, and
# $E[T] = \int_0^\infty E[T(x)] f(x)\,dx
#       = E[X] + \dfrac{\lambda E[X^2]}{2}\int_0^\infty \dfrac{f(x)}{(1-\rho_x)^2}dx.$
# The integral has no elementary antiderivative; the closed-form integrand is
# evaluated with `mpmath.quad` at 30 digits.

# %%
T_sjf_x = x + lam * EX2 / (2 * (1 - rho_x) ** 2)
display(sp.Eq(sp.Symbol("E[T(x)]"), T_sjf_x))
mean_integral = sp.Integral(sp.simplify(f * T_sjf_x), (x, 0, sp.oo))
display(sp.Eq(sp.Symbol("E[T]"), mean_integral))
assert sp.simplify(S.mm1_expressions()["integrand"]["SJF"] - f * T_sjf_x) == 0

sjf_fn = sp.lambdify((x, mu, lam), f * T_sjf_x, modules="mpmath")
with mp.workdps(30):
    v = mp.quad(lambda xx: sjf_fn(xx, 1, mp.mpf("0.8")), [0, 1, 8, mp.inf])
print("M/M/1, rho = 0.8: E[T_SJF] =", mp.nstr(v, 25))

# %% [markdown]
# PSJF, SRPT and FB have the closed-form integrands of `mm1_expressions()["integrand"]`
# (for SRPT, $\int_0^\infty f(x)\int_0^x \frac{dt}{1-\rho_t}dx$ is swapped into
# $\int_0^\infty \frac{\bar F(x)}{1-\rho_x}dx$). For exponential sizes FB is
# size-blind and memoryless, so its mean equals PS's, $1/(\mu-\lambda)$: a check of
# the FB formula.
#
# The quadrature engine agrees with all of them to $10^{-10}$:

# %%
for mean in (1.0, 2.0):
    for load in (0.3, 0.8, 0.95):
        q = qt.MG1(load=load, size=qt.Exponential(mean=mean))
        for pol in ("FCFS", "PS", "SJF", "PSJF", "SRPT", "FB"):
            sym = q.mean_response_time(pol, method="symbolic")
            fast = q.mean_response_time(pol, method="quad")
            assert rel(fast, sym) < RTOL, (pol, mean, load, fast, sym)
        assert rel(q.mean_response_time("FB", method="symbolic"), mean / (1 - load)) < 1e-14
print(
    f"mean {q.size.mean}, load {q.load}:",
    {p: round(q.mean_response_time(p, method="symbolic"), 12) for p in ("SJF", "PSJF", "SRPT")},
)

# %% [markdown]
# ## 2. Exponential predictions of exponential sizes
#
# $X \sim \mathrm{Exp}(1)$ and $Y \mid X = x \sim \mathrm{Exp}(\text{mean } x)$, i.e.
# $Y = XZ$ with $Z \sim \mathrm{Exp}(1)$ independent of $X$; joint density
# $g(x, y) = e^{-x}\, e^{-y/x}/x$. Everything reduces to
# $M_k(y) = E[X^k e^{-y/X}] = \int_0^\infty x^k e^{-x-y/x}\,dx$:
# $f_Y = M_{-1}$, $P(Y > y) = E[e^{-y/X}] = M_0(y)$,
# $\rho'_y = \lambda E[X; Y\le y] = \lambda(E[X] - M_1(y))$,
# $E[X^2; Y \le y] = E[X^2] - M_2(y)$.
#
# `sympy.integrate` returns $M_k$ as Meijer G functions
# $G^{0,2}_{2,0}(1/y \mid -k, 1;\,-) = G^{2,0}_{0,2}(y \mid -;\, 0, k+1)$, which is
# $2y^{(k+1)/2}K_{k+1}(2\sqrt y)$ (DLMF 16.19.2, 10.32.10); sympy's `hyperexpand`
# does not perform that last step, so we do it with `S.bessel_from_meijerg` and
# verify it numerically to 50 digits and symbolically through the recursion
# $\frac{d}{dy}M_k = -M_{k-1}$ and the values at $y = 0$.

# %%
M = {}
for k in (-1, 0, 1, 2):
    G = sp.integrate(x**k * sp.exp(-x) * sp.exp(-y / x), (x, 0, sp.oo))
    M[k] = S.bessel_from_meijerg(G)
    display(sp.Eq(sp.Symbol(f"M_{{{k}}}(y)"), G), sp.Eq(sp.Symbol(f"M_{{{k}}}(y)"), M[k]))
    bessel = 2 * y ** sp.Rational(k + 1, 2) * sp.besselk(k + 1, 2 * sp.sqrt(y))
    assert sp.simplify(M[k] - bessel) == 0
    for yy in (sp.Rational(1, 20), sp.Rational(13, 10), sp.Integer(7)):
        gv, bv = sp.N(G.subs(y, yy), 50), sp.N(M[k].subs(y, yy), 50)
        assert abs(gv / bv - 1) < 1e-40
for k in (0, 1, 2):
    assert sp.simplify(sp.diff(M[k], y) + M[k - 1]) == 0
assert [sp.limit(M[k], y, 0) for k in (0, 1, 2)] == [1, 1, 2]  # P(Y>0), E[X], E[X^2]
assert sp.integrate(M[-1], (y, 0, sp.oo)) == 1  # f_Y is a density
print("f_Y(y) =", M[-1], "   P(Y > y) =", M[0])

# %% [markdown]
# The same facts checked numerically with `mpmath` at 30 digits: $f_Y$ integrates to
# 1, $M_1(0^+) = E[X]$, and $\frac{d}{dy}P(Y \le y) = f_Y(y)$.

# %%
mpf = {k: sp.lambdify(y, M[k], modules="mpmath") for k in M}
with mp.workdps(30):
    assert abs(mp.quad(mpf[-1], [0, 1, 10, mp.inf]) - 1) < 1e-25
    assert abs(mpf[1](mp.mpf(10) ** -40) - 1) < 1e-28
    for y0 in (mp.mpf("0.3"), mp.mpf(2)):
        assert abs(mp.diff(lambda yy: 1 - mpf[0](yy), y0) / mpf[-1](y0) - 1) < 1e-20

# %% [markdown]
# For mean $m$, $X = mX_1$ and $Y = mY_1$, so $M_k^{(m)}(y) = m^k M_k(y/m)$. The
# package's expressions, for general $m$:

# %%
E = S.exp_prediction_expressions()
for key in ("f_Y", "sf_Y", "rho_prime", "S2_Y"):
    display(sp.Eq(sp.Symbol(key), E[key]))

# %% [markdown]
# ### SPJF
#
# Mitzenmacher (ITCS 2020): $E[T(x,y)] = x + \dfrac{\lambda E[X^2]}{2(1-\rho'_y)^2}$, so
# $$E[T] = E[X] + \frac{\lambda E[X^2]}{2}\int_0^\infty \frac{f_Y(y)}{(1-\rho'_y)^2}\,dy,
# \qquad f_Y(y) = 2K_0(2\sqrt y),\ \ \rho'_y = \lambda\bigl(1 - 2yK_2(2\sqrt y)\bigr)$$
# for mean 1. The remaining one-dimensional integral is evaluated with `mpmath.quad`
# (after $y = m s^2$, which turns the Bessel arguments into $2s$).

# %%
display(sp.Eq(sp.Symbol("E[T_{SPJF}]"), E["T"]["SPJF"]))
spjf_integrand = M[-1] / (1 - lam * (1 - M[1])) ** 2
assert sp.simplify(E["integrand"]["SPJF"].subs(m, 1) - spjf_integrand) == 0
spjf_fn = sp.lambdify((y, lam), spjf_integrand, modules="mpmath")
with mp.workdps(20):
    direct = 1 + mp.mpf("0.8") * mp.quad(lambda yy: spjf_fn(yy, mp.mpf("0.8")), [0, 1, 10, mp.inf])
sym = S.mean_response_time("SPJF", qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.8)
print("rho = 0.8: E[T_SPJF] =", sym)
assert rel(sym, float(direct)) < 1e-14

# %% [markdown]
# ### PSPJF and SPRPT
#
# PSPJF: $E[T(x,y)] = \frac{x}{1-\rho'_y} + \frac{\lambda E[X^2;Y\le y]}{2(1-\rho'_y)^2}$.
# Averaging the first term gives $\int \frac{d\rho'_y/\lambda}{1-\rho'_y} = -\ln(1-\rho)/\lambda$,
# so $E[T] = -\frac{\ln(1-\rho)}{\lambda} + \frac{\lambda}{2}\int_0^\infty
# \frac{f_Y(y)\,E[X^2;Y\le y]}{(1-\rho'_y)^2}dy$.
#
# SPRPT (rank $y - a$): averaging the SOAP form of `formulas.md` and swapping the
# order of integration in $E\bigl[\int_0^{\min(X,Y)} \frac{da}{1-\rho'_{Y-a}}\bigr]$,
# $$E[T] = E[(X-Y)^+] + \int_0^\infty \frac{K(u)}{1-\rho'_u}du
#   + \frac{\lambda}{2}\int_0^\infty f_Y(y)\frac{E[X^2;Y\le y] + V_2(y)}{(1-\rho'_y)^2}dy,$$
# $K(u) = P(Y > u,\ Y - X < u)$, $V_2(y) = E[(X-Y+y)^2;\ Y > y,\ X - Y + y > 0]$.
# For $Y = XZ$, $Z \sim \mathrm{Exp}(1)$, conditioning on $X = x$ and integrating over
# $z$ in sympy gives three identities:

# %%
gz = sp.exp(-z)
short_x = sp.simplify(sp.integrate(x * (1 - z) * gz, (z, 0, 1)))
K_x = sp.simplify(sp.integrate(gz, (z, u / x, 1 + u / x)))
V2_x = sp.simplify(sp.integrate((x - x * z + y) ** 2 * gz, (z, y / x, 1 + y / x)))
display(short_x, K_x, V2_x)
assert sp.simplify(short_x - x / sp.E) == 0  # E[(X-Y)^+] = E[X]/e
assert sp.simplify(K_x - (1 - 1 / sp.E) * sp.exp(-u / x)) == 0  # K(u) = (1 - 1/e) M_0(u)
assert sp.simplify(V2_x - (1 - 2 / sp.E) * x**2 * sp.exp(-y / x)) == 0  # V2 = (1 - 2/e) M_2
assert all(v["difference"] == 0 for v in S.sprpt_noise_identities().values())

# %% [markdown]
# The same three identities by direct double integration over the joint density
# (mean $m = 2$), with `mpmath`:

# %%
m2 = mp.mpf(2)
M0m = sp.lambdify((y, m), E["M"][0], modules="mpmath")
M2m = sp.lambdify((y, m), E["M"][2], modules="mpmath")


def g2(xx, yy):
    return mp.exp(-xx / m2) / m2 * mp.exp(-yy / xx) / xx


with mp.workdps(16):
    short = mp.quad(lambda xx: mp.quad(lambda yy: (xx - yy) * g2(xx, yy), [0, xx]), [0, m2, mp.inf])
    u0, y0 = mp.mpf("0.7"), mp.mpf("1.5")
    K0 = mp.quad(lambda xx: mp.quad(lambda yy: g2(xx, yy), [u0, xx + u0]), [0, m2, mp.inf])
    V20 = mp.quad(
        lambda xx: mp.quad(lambda tt: (xx - tt + y0) ** 2 * g2(xx, tt), [y0, xx + y0]),
        [0, m2, mp.inf],
    )
    assert abs(short / (m2 / mp.e) - 1) < 1e-12
    assert abs(K0 / ((1 - 1 / mp.e) * M0m(u0, m2)) - 1) < 1e-12
    assert abs(V20 / ((1 - 2 / mp.e) * M2m(y0, m2)) - 1) < 1e-12
print("E[(X-Y)+] =", short, " K(0.7) =", K0, " V2(1.5) =", V20)

# %% [markdown]
# ## 3. The quadrature engine against the closed forms
#
# `method="quad"` (double-precision tanh-sinh on a cached grid) against the
# 30-digit closed forms, for SPJF, PSPJF and SPRPT with exponential predictions:

# %%
rows = []
for mean in (1.0, 2.0):
    for load in (0.3, 0.8, 0.95):
        q = qt.MG1(load=load, size=qt.Exponential(mean=mean), prediction=qt.ExponentialPrediction())
        for pol in ("SPJF", "PSPJF", "SPRPT"):
            sym = q.mean_response_time(pol, method="symbolic")
            fast = q.mean_response_time(pol, method="quad")
            rows.append((mean, load, pol, sym, rel(fast, sym)))
            assert rel(fast, sym) < RTOL, (pol, mean, load, fast, sym)
for r in rows:
    print("mean {:.0f}  rho {:.2f}  {:<6s} E[T] = {:.15f}   rel. diff {:.1e}".format(*r))

# %% [markdown]
# Price of misprediction at $\rho = 0.8$ (Mitzenmacher's ratio
# $E[T_{\rm SPJF}]/E[T_{\rm SJF}]$, etc.):

# %%
q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
for pol, twin in (("SPJF", "SJF"), ("PSPJF", "PSJF"), ("SPRPT", "SRPT")):
    ratio = q.mean_response_time(pol, method="symbolic") / q.mean_response_time(
        twin, method="symbolic"
    )
    assert rel(q.price_of_misprediction(pol), ratio) < RTOL
    print(f"{pol}/{twin}: {ratio:.12f}")
print(f"notebook ran in {time.time() - T0:.1f} s")
