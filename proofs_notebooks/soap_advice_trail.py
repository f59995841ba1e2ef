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
# # One bit of advice and TRAIL, derived from SOAP
#
# SOAP (Scully, Harchol-Balter, Scheller-Wolf, "SOAP: One Clean Analysis of All
# Age-Based Scheduling Policies", POMACS 2018, Theorem 5.5) gives, for a tagged
# job with descriptor $d$, size $x$ and worst future rank $r$,
#
# $$E[T_{d,x}] = \frac{\lambda \sum_i E[(X_i^{old}[r])^2]}{2(1-\rho_0^{old}[r])(1-\rho^{new}[r])}
#   + \int_0^x \frac{da}{1-\rho^{new}[r^{worst}_{d,x}(a)]}.$$
#
# Here we derive, with `sympy`, from the rank functions alone:
#
# 1. the two one-bit formulas of M. Mitzenmacher, "Queues with Small Advice",
#    ACDA 2021 (arXiv:2006.15463) that are SOAP policies (non-preemptive, and
#    preemptive with FIFO inside each class);
# 2. TRAIL's known-size formula (Shahout et al., ICLR 2025, arXiv:2410.01035),
#    for exponential sizes;
# 3. TRAIL on the prediction: the tagged-job formula, evaluated straight from its
#    definitions with mpmath, against qtheory's closed form (which averages it in
#    another order) and its SOAP engine;
#
# and check each against qtheory's SOAP engine, which computes the same
# quantities numerically from `policy.rank()`.

# %%
import sympy as sp

import qtheory as qt

lam, rho, rho_s, p_l, w0, m1, m1s, m2s = sp.symbols(
    "lambda rho rho_S p_L W_0 E_X E_XS E_X2S", positive=True)

# %% [markdown]
# ## 1. One bit, non-preemptive
#
# Rank: $0$ for a short job (prediction $\le T$), $1$ for a long one, at age 0;
# $-\infty$ once in service. A **short** tagged job has $r = 0$: old jobs with
# rank $\le 0$ are the shorts (interval 0) and every job already in service
# (rank $-\infty$, interval 1); new jobs of rank $< 0$ do not exist. So the
# waiting term is $\lambda E[X^2]/(2(1-\rho_S))$ and the residence is $x$.
# A **long** tagged job has $r = 1$: old jobs all count, interval 0 are all
# jobs, and new shorts (rank $0 < 1$) overtake it before it starts only:
# $\rho^{new}[1] = \rho_S$, while after it starts $r^{worst} = -\infty$.

# %%
W_short = w0 / (1 - rho_s)
W_long = w0 / ((1 - rho) * (1 - rho_s))
ET_np = m1 + (1 - p_l) * W_short + p_l * W_long
paper_np = m1 + w0 * (1 - rho + rho * p_l) / ((1 - rho) * (1 - rho_s))
assert sp.simplify(ET_np - paper_np) == 0
sp.simplify(ET_np)

# %% [markdown]
# ## 2. One bit, preemptive, FIFO within class
#
# Rank: $0$ (short) or $1$ (long) at every age. A short tagged job
# ($r = 0$): old jobs that count are shorts only (interval 0), new jobs never
# overtake it. A long tagged job ($r = 1$): all old jobs count, new shorts
# overtake it throughout: $\rho^{new} = \rho_S$ in the waiting denominator and
# in the residence, so its residence is $x/(1-\rho_S)$.

# %%
ET_pf = (m1s + (1 - p_l) * lam * m2s / (2 * (1 - rho_s))
         + (m1 - m1s) / (1 - rho_s) + p_l * w0 / ((1 - rho_s) * (1 - rho)))
cobham = (1 - p_l) * (m1s / (1 - p_l) + lam * m2s / (2 * (1 - rho_s))) + p_l * (
    (m1 - m1s) / p_l / (1 - rho_s) + w0 / ((1 - rho_s) * (1 - rho)))
assert sp.simplify(ET_pf - cobham) == 0
sp.simplify(ET_pf)

# %% [markdown]
# Numerical check: exponential sizes, a perfect bit and an exponential
# prediction's bit; the closed forms (`qtheory.analysis.advice`) against the
# SOAP engine run on `OneBit(...).rank()`.

# %%
P = qt.policies
for pred in (qt.ExactPrediction(), qt.ExponentialPrediction()):
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=pred)
    for pol in (P.OneBit(threshold=1.2), P.OneBit(threshold=1.2, preemptive=True, within="fifo")):
        closed = q.mean_response_time(pol)
        soap = q.mean_response_time(pol, method="soap")
        print(f"{pred!r:26} {pol.name:22} closed {closed:.12f}  SOAP {soap:.12f}")
        assert abs(soap / closed - 1) < 1e-9

# %% [markdown]
# ## 3. TRAIL with known sizes
#
# Rank $x - a$ while $a < c\,x$, then $-\infty$. For a tagged job of size $x$:
# $r = x$. An old job of size $t$ has rank $\le x$ from age
# $\min((t-x)^+,\, c\,t)$ on, so its old work is $t$ if $t \le x$ (interval 0)
# and $\max(x, (1-c)t)$ otherwise; new jobs smaller than the current rank
# $x - a$ overtake it while $a < c x$. Hence
#
# $$E[T(x)] = \frac{\lambda\left[\int_0^x t^2 dF + \int_x^\infty \max(x,(1-c)t)^2 dF(t)\right]}
#   {2(1-\rho_x)^2} + \int_{(1-c)x}^x \frac{du}{1-\rho_u} + (1-c)x.$$
#
# For exponential sizes (rate 1) sympy gives every piece in closed form:

# %%
x, t, u, c = sp.symbols("x t u c", positive=True)
f = sp.exp(-t)
rho_x = lam * sp.integrate(t * f, (t, 0, x))
old = (sp.integrate(t**2 * f, (t, 0, x))
       + sp.integrate(x**2 * f, (t, x, x / (1 - c)))
       + sp.integrate((1 - c) ** 2 * t**2 * f, (t, x / (1 - c), sp.oo)))
old = sp.simplify(old)
wait = lam * old / (2 * (1 - rho_x) ** 2)
wait

# %% [markdown]
# At $c = 1$ the old work is that of SRPT, $\int_0^x t^2 dF + x^2 \bar F(x)$, and
# at $c = 0$ it is $E[X^2]$ (SJF):

# %%
srpt_old = sp.integrate(t**2 * f, (t, 0, x)) + x**2 * sp.exp(-x)
assert sp.simplify(sp.limit(old, c, 1, dir="-") - srpt_old) == 0
assert sp.simplify(old.subs(c, 0) - 2) == 0

# %% [markdown]
# Mean response time: integrate $E[T(x)]$ against $e^{-x}$ numerically with
# mpmath (the residence integral has no elementary antiderivative in $u$), and
# compare with qtheory's closed-form module and its SOAP engine.

# %%
import mpmath as mpm

lam_v = 0.8
wait_f = sp.lambdify((x, c, lam), wait, "mpmath")
rho_u = sp.lambdify((u, lam), rho_x.subs(x, u), "mpmath")


def trail_mean(cv, dps=20):
    with mpm.workdps(dps):
        def et(xv):
            res = mpm.quad(lambda uu: 1 / (1 - rho_u(uu, lam_v)), [(1 - cv) * xv, xv])
            return wait_f(xv, cv, lam_v) + res + (1 - cv) * xv
        return mpm.quad(lambda xv: et(xv) * mpm.exp(-xv), [0, 1, 5, mpm.inf])


q = qt.MG1(arrival_rate=lam_v, size=qt.Exponential(mean=1.0))
for cv in (0.3, 0.8):
    ref = float(trail_mean(cv))
    closed = q.mean_response_time(P.TRAIL(c=cv, on="size"))
    soap = q.mean_response_time(P.TRAIL(c=cv, on="size"), method="soap")
    print(f"c={cv}: sympy+mpmath {ref:.12f}  closed form {closed:.12f}  SOAP {soap:.12f}")
    assert abs(closed / ref - 1) < 1e-9 and abs(soap / ref - 1) < 1e-9

# %% [markdown]
# ## 4. TRAIL on the prediction
#
# Rank $y - a$ while $a < c\,y$, then $-\infty$. For a tagged job $(x, y)$: $r = y$; a
# new job with prediction $y' < r$ is served ahead of it to completion (its rank only
# falls), so $1 - \rho^{new}[r] = D(r) = 1 - \lambda E[X; Y < r]$; an old job with
# $y' \le r$ has interval 0 (all of $x'$), and one with $y' > r$ has rank $\le r$ from
# age $\min(y' - r, c\,y')$ on (rank $r$ in its preemptible phase, or $-\infty$ after
# it). Hence
#
# $$E[T(x, y)] = \frac{\lambda\,\big(E[X^2; Y \le y]
#   + E[((X - \min(Y - y, cY))^+)^2; Y > y]\big)}{2 D(y)^2}
#   + \int_{y - \min(x, c y)}^{y} \frac{du}{D(u)} + (x - c y)^+ .$$
#
# qtheory's closed form (`qtheory.analysis.trail_predicted`) averages this over
# $(X, Y)$ after swapping the order of the residence integral, and takes the old work
# as integrals over the noise of partial moments of $X$. Here we evaluate the tagged-job
# formula as it stands, for sizes on three atoms and uniform noise (the one law on which
# every piece is elementary): $D$ is linear between its kinks, so the residence
# integral is a sum of logarithms, the old work is an integral of a piecewise quadratic
# in $z$, and the mean is one integral over $z$ per atom, cut at every kink.

# %%
xs = [1, 2, 5]
ps = [mpm.mpf(1) / 2, mpm.mpf(3) / 10, mpm.mpf(1) / 5]
z_lo, z_hi = mpm.mpf(7) / 10, mpm.mpf(13) / 10  # Z uniform on [0.7, 1.3]


def tagged_mean(cv, load="0.8"):
    lam_a = mpm.mpf(load) / sum(p * v for p, v in zip(ps, xs))

    def G(z):  # P(Z <= z)
        return min(max((z - z_lo) / (z_hi - z_lo), 0), 1)

    def D(u):  # 1 - lambda E[X; Y < u]
        return 1 - lam_a * sum(p * v * G(u / v) for p, v in zip(ps, xs))

    def old(y):  # E[X^2; Y <= y] + E[((X - min(Y - y, cY))+)^2; Y > y]
        tot = sum(p * v**2 * G(y / v) for p, v in zip(ps, xs))
        for p, v in zip(ps, xs):
            cuts = (y / ((1 - cv) * v), 1 + y / v, 1 / cv)
            start = max(z_lo, y / v)
            if start < z_hi:
                pts = sorted({start, z_hi, *[w for w in cuts if start < w < z_hi]})
                tot += p * mpm.quad(lambda z, v=v: max(v - min(v * z - y, cv * v * z), 0) ** 2,
                                    pts) / (z_hi - z_lo)
        return tot

    def residence(a, b):  # integral of du / D(u) over [a, b], D linear between kinks
        knots = sorted({a, b, *[v * z for v in xs for z in (z_lo, z_hi) if a < v * z < b]})
        out = 0
        for u0, u1 in zip(knots[:-1], knots[1:]):
            d0, d1 = D(u0), D(u1)
            out += (u1 - u0) / d0 if d0 == d1 else (u1 - u0) * mpm.log(d1 / d0) / (d1 - d0)
        return out

    def T(x, y):
        return (lam_a * old(y) / (2 * D(y) ** 2) + residence(y - min(x, cv * y), y)
                + max(x - cv * y, 0))

    total = 0
    for p, x in zip(ps, xs):
        # E[T(x, x z)] kinks in z where y = x z puts a kink of D, of the old work or of
        # the residence limits on an end of the noise support, and at z = 1 / c
        cand = [v * w / x for v in xs for z in (z_lo, z_hi)
                for w in (z, (1 - cv) * z, z - 1, z / (1 - cv))]
        cand += [1 + v * z / x for v in xs for z in (z_lo, z_hi)] + [1 / cv]
        zs = sorted({z_lo, z_hi, *[w for w in cand if z_lo < w < z_hi]})
        total += p * mpm.quad(lambda z, x=x: T(x, x * z), zs) / (z_hi - z_lo)
    return total


q = qt.MG1(load=0.8, size=qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2]),
           prediction=qt.UniformPrediction(0.3))
with mpm.workdps(20):
    ref = tagged_mean(mpm.mpf(3) / 10)
closed = q.mean_response_time(P.TRAIL(c=0.3))
print(f"c=0.3: mpmath {mpm.nstr(ref, 17)}  closed form {closed:.15f}")
assert abs(closed / float(ref) - 1) < 1e-12
# SOAP's engine needs a continuous size law; on atoms the closed form is the analysis.
# Limits: c -> 0 is SPJF and c -> 1 SPRPT (closed forms of their own)
assert abs(q.mean_response_time(P.TRAIL(c=1e-9)) / q.mean_response_time("SPJF") - 1) < 1e-8
assert abs(q.mean_response_time(P.TRAIL(c=1 - 1e-9)) / q.mean_response_time("SPRPT") - 1) < 1e-8
