"""Event-driven CPU kernels (Numba ``njit``): M/G/1 rank policies, M/G/1 PS, M/G/k.

One generic kernel serves every rank policy: it evaluates the compiled rank
arrays of :mod:`qtheory.sim.ranks`, keeps the waiting jobs in a binary heap keyed
by (rank, arrival number) and ages only the jobs in service. A job's rank moves
while it is served (slope of its current segment); the kernel schedules an event
at each segment end and, when the served rank rises, at the time it would pass
the best waiting rank. Jobs tied at the lowest rank whose ranks rise share the
server so that their ranks stay equal (FB / LAS); a job whose rank falls or stays
flat keeps the server (ties FIFO). An arrival preempts only with a strictly lower
rank.

Every kernel keeps its state in arrays (see :mod:`.layout`) and may return before
the run ends (``GROW``: the pool of job rows is full; ``NEED_DATA``: the next chunk
of NumPy-sampled sizes is needed; ``SLICE``: the event budget of this call is
spent) and be called again to resume.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ..rng import stream_key, uniform
from ..sampling import draw_class, draw_noise, draw_size
from .layout import (
    AGE,
    AREA,
    ARR,
    BR,
    BUF0,
    BUFN,
    C_HLO,
    C_HSCALE,
    C_JOBS,
    C_KEY,
    C_LAM,
    C_MAXARR,
    C_MODE,
    C_NBATCH,
    C_NBINS,
    C_NCODE,
    C_RECORD,
    C_REP,
    C_SCODE,
    C_SEED,
    C_SERVERS,
    C_WARM,
    DONE,
    END,
    FREEN,
    GR,
    GRHO,
    GROW,
    HN,
    INWIN,
    MAXSYS,
    MAXT,
    NARR,
    NDONE,
    NEED_DATA,
    NEVENTS,
    NEXT,
    NG,
    NSYS,
    PRED,
    RANK,
    REM,
    SEG,
    SEQ,
    SIZE,
    SLICE,
    SLOPE,
    STARTED,
    SUMT,
    SUMT2,
    TWE,
    TWS,
    VT,
    K,
    T,
    W,
)

__all__ = ["mg1_rank", "mg1_ps", "mgk_rank"]

_INF = np.inf


# ----------------------------------------------------------------------------- heap
@jit
def _less(pf, pi, a, b):
    ra = pf[a, RANK]
    rb = pf[b, RANK]
    return ra < rb or (ra == rb and pi[a, SEQ] < pi[b, SEQ])


@jit
def _push(heap, n, pf, pi, s):
    i = n
    while i > 0:
        p = (i - 1) >> 1
        q = heap[p]
        if _less(pf, pi, s, q):
            heap[i] = q
            i = p
        else:
            break
    heap[i] = s
    return n + 1


@jit
def _pop(heap, n, pf, pi):
    """Remove the top; the caller decrements its count."""
    top = heap[0]
    n -= 1
    if n > 0:
        s = heap[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and _less(pf, pi, heap[c + 1], heap[c]):
                c += 1
            if _less(pf, pi, heap[c], s):
                heap[i] = heap[c]
                i = c
            else:
                break
        heap[i] = s
    return top


# ----------------------------------------------------------------------------- ranks
@jit
def _branch(rb, k):
    a, b = 0, rb.shape[0] - 1
    while a < b:
        m = (a + b) // 2
        if k <= rb[m, 0]:
            b = m
        else:
            a = m + 1
    return a


@jit
def _seg_rank(pf, rs, s, j):
    vk = rs[j, 5]
    if vk == -_INF:
        return -_INF
    k = pf[s, K]
    return rs[j, 4] * k + vk + rs[j, 6] * pf[s, ARR] + rs[j, 7] * (pf[s, AGE] - (rs[j, 0] * k
                                                                               + rs[j, 1]))


@jit
def _seg_enter(pf, pi, rb, rs, s):
    """Move job ``s`` to the segment holding its age; set END and SLOPE; return its rank."""
    b = pi[s, BR]
    last = int(rb[b, 1] + rb[b, 2]) - 1
    j = pi[s, SEG]
    k = pf[s, K]
    age = pf[s, AGE]
    while j < last and rs[j, 2] * k + rs[j, 3] <= age:
        j += 1
    pi[s, SEG] = j
    pf[s, END] = rs[j, 2] * k + rs[j, 3]
    pf[s, SLOPE] = rs[j, 7]
    return _seg_rank(pf, rs, s, j)


@jit
def _fresh(pf, pi, rb, s):
    """True when job ``s`` is at age 0 in a branch with an initial rank."""
    return pf[s, AGE] == 0.0 and rb[pi[s, BR], 3] != 0.0


@jit
def _wait_rank(pf, pi, rb, s, r):
    """The heap key of job ``s`` whose service rank is ``r``."""
    if _fresh(pf, pi, rb, s):
        b = pi[s, BR]
        return rb[b, 4] * pf[s, K] + rb[b, 5]
    return r


@jit
def _serve_rank(pf, pi, rb, rs, s):
    """The rank of job ``s`` once it is in service (its segment rank, not the initial one)."""
    if _fresh(pf, pi, rb, s):
        return _seg_rank(pf, rs, s, pi[s, SEG])
    return pf[s, RANK]


@jit
def _rising(pf, pi, rb, s):
    return pf[s, SLOPE] > 0.0 and not _fresh(pf, pi, rb, s)


# ----------------------------------------------------------------------------- jobs
@jit
def _draw_job(cfg_i, sprm, nprm, ccum, k1, k2, k3, k4, bufx, bufy, buf0, idx):
    """(size, prediction, key) of arrival number ``idx``."""
    if cfg_i[C_MODE] == 1:
        x = bufx[idx - buf0]
        y = bufy[idx - buf0]
    else:
        ui = np.uint64(idx)
        x = draw_size(cfg_i[C_SCODE], sprm, uniform(k1, ui), uniform(k2, ui))
        y = x * draw_noise(cfg_i[C_NCODE], nprm, uniform(k3, ui))
    kk = cfg_i[C_KEY]
    if kk == 1:
        key = x
    elif kk == 2:
        key = y
    elif kk == 3:
        key = float(draw_class(ccum, uniform(k4, np.uint64(idx))))
    else:
        key = 0.0
    return x, y, key


@jit
def _init_row(pf, pi, rb, rs, s, idx, t, x, y, key):
    pf[s, K] = key
    pf[s, REM] = x
    pf[s, AGE] = 0.0
    pf[s, ARR] = t
    pf[s, SIZE] = x
    pf[s, PRED] = y
    pf[s, W] = 1.0
    pi[s, SEQ] = idx
    b = _branch(rb, key)
    pi[s, BR] = b
    pi[s, SEG] = int(rb[b, 1])
    r = _seg_enter(pf, pi, rb, rs, s)
    if rb[b, 3] != 0.0:
        r = rb[b, 4] * key + rb[b, 5]
    pf[s, RANK] = r
    return r


@jit
def _key(cfg_i, j):
    return stream_key(np.uint64(cfg_i[C_SEED]), np.uint64(cfg_i[C_REP]), np.uint64(j))


@jit
def _complete(cfg_f, cfg_i, pf, pi, sf, si, hist, bsum, bcnt, rec, s, t):
    """Record the response time of job ``s`` finishing at ``t`` (if measured)."""
    seq = pi[s, SEQ]
    warm = cfg_i[C_WARM]
    jobs = cfg_i[C_JOBS]
    if seq >= warm and seq < warm + jobs:
        rt = t - pf[s, ARR]
        sf[SUMT] += rt
        sf[SUMT2] += rt * rt
        if rt > sf[MAXT]:
            sf[MAXT] = rt
        nb = cfg_i[C_NBINS]
        if rt > 0.0:
            v = (math.log(rt) - cfg_f[C_HLO]) * cfg_f[C_HSCALE]
            if v < 0.0:
                bi = 0
            elif v >= nb:
                bi = nb + 1
            else:
                bi = int(v) + 1
        else:
            bi = 0
        hist[bi] += 1
        m = seq - warm
        bb = (m * cfg_i[C_NBATCH]) // jobs
        bsum[bb] += rt
        bcnt[bb] += 1
        if cfg_i[C_RECORD] != 0:
            rec[m, 0] = pf[s, ARR]
            rec[m, 1] = pf[s, SIZE]
            rec[m, 2] = pf[s, PRED]
            rec[m, 3] = t
        si[NDONE] += 1


@jit
def _next_arrival(cfg_f, cfg_i, k0, idx, t):
    if idx >= cfg_i[C_MAXARR]:
        return _INF
    return t - math.log(uniform(k0, np.uint64(idx))) / cfg_f[C_LAM]


@jit
def _window(cfg_i, sf, si, idx, t):
    """Open the Little's-law window at the first measured arrival, close it after the last."""
    if idx == cfg_i[C_WARM]:
        si[INWIN] = 1
        sf[TWS] = t
    if idx == cfg_i[C_WARM] + cfg_i[C_JOBS]:
        si[INWIN] = 0
        sf[TWE] = t


# ----------------------------------------------------------------------------- M/G/1 rank
@jit
def _take(pf, pi, rb, rs, heap, hn, grp):
    """Give the server to the best waiting job(s); return (hn, g, R, rho).

    The earliest of the jobs tied at the lowest rank whose rank does not rise is
    served alone; if all tied jobs' ranks rise, they share the server at rates that
    keep their ranks equal.
    """
    if hn == 0:
        return hn, 0, 0.0, 0.0
    s = _pop(heap, hn, pf, pi)
    hn -= 1
    if not _rising(pf, pi, rb, s):
        grp[0] = s
        pf[s, W] = 1.0
        r = _serve_rank(pf, pi, rb, rs, s)
        rho = pf[s, SLOPE] if r > -_INF else 0.0
        return hn, 1, r, rho
    r = pf[s, RANK]
    grp[0] = s
    g = 1
    while hn > 0 and pf[heap[0], RANK] == r:
        grp[g] = _pop(heap, hn, pf, pi)
        hn -= 1
        g += 1
    for i in range(1, g):
        q = grp[i]
        if not _rising(pf, pi, rb, q):
            for j in range(g):
                if j != i:
                    hn = _push(heap, hn, pf, pi, grp[j])
            grp[0] = q
            pf[q, W] = 1.0
            rq = _serve_rank(pf, pi, rb, rs, q)
            return hn, 1, rq, (pf[q, SLOPE] if rq > -_INF else 0.0)
    inv = 0.0
    for i in range(g):
        inv += 1.0 / pf[grp[i], SLOPE]
    rho = 1.0 / inv
    for i in range(g):
        pf[grp[i], W] = rho / pf[grp[i], SLOPE]
    return hn, g, r, rho


@jit
def _requeue(pf, pi, rb, heap, hn, grp, g, r):
    """Put the jobs in service back into the heap with service rank ``r``."""
    for i in range(g):
        s = grp[i]
        pf[s, RANK] = _wait_rank(pf, pi, rb, s, r)
        hn = _push(heap, hn, pf, pi, s)
    return hn


@jit
def mg1_rank(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, heap, free, grp, sf, si,
             hist, bsum, bcnt, rec, bufx, bufy, max_events):
    """Run (or resume) one replication of an M/G/1 rank policy; return a status code."""
    k0, k1, k2, k3, k4 = (_key(cfg_i, 0), _key(cfg_i, 1), _key(cfg_i, 2), _key(cfg_i, 3),
                          _key(cfg_i, 4))
    t = sf[T]
    next_t = sf[NEXT]
    R = sf[GR]
    rho = sf[GRHO]
    n_arr = si[NARR]
    n_sys = si[NSYS]
    g = si[NG]
    hn = si[HN]
    freen = si[FREEN]
    jobs = cfg_i[C_JOBS]
    endarr = cfg_i[C_WARM] + jobs  # the arrival that closes the Little's-law window
    if si[STARTED] == 0:
        next_t = _next_arrival(cfg_f, cfg_i, k0, 0, 0.0)
        si[STARTED] = 1
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = _INF
        ev = 0
        evm = -1
        for gi in range(g):
            m = grp[gi]
            w = pf[m, W]
            d = pf[m, REM] / w
            if d < dt_ev:
                dt_ev = d
                ev = 1
                evm = gi
            d = (pf[m, END] - pf[m, AGE]) / w
            if d < dt_ev:
                dt_ev = d
                ev = 2
                evm = gi
        if rho > 0.0 and hn > 0:
            d = (pf[heap[0], RANK] - R) / rho
            if d < 0.0:
                d = 0.0
            if d < dt_ev:
                dt_ev = d
                ev = 3
        dt_arr = next_t - t
        if next_t < _INF and dt_arr <= dt_ev:
            # ---------------------------------------------------------------- arrival
            idx = n_arr
            if cfg_i[C_MODE] == 1 and idx >= si[BUF0] + si[BUFN]:
                status = NEED_DATA
                events -= 1  # not processed
                break
            if freen == 0:
                status = GROW
                events -= 1  # not processed
                break
            for gi in range(g):
                m = grp[gi]
                d = pf[m, W] * dt_arr
                pf[m, AGE] += d
                pf[m, REM] -= d
            if R > -_INF:
                R += rho * dt_arr
            if si[INWIN] != 0:
                sf[AREA] += n_sys * dt_arr
            t = next_t
            _window(cfg_i, sf, si, idx, t)
            x, y, key = _draw_job(cfg_i, sprm, nprm, ccum, k1, k2, k3, k4, bufx, bufy,
                                     si[BUF0], idx)
            freen -= 1
            s = free[freen]
            r0 = _init_row(pf, pi, rb, rs, s, idx, t, x, y, key)
            n_sys += 1
            if n_sys > si[MAXSYS]:
                si[MAXSYS] = n_sys
            n_arr += 1
            next_t = _next_arrival(cfg_f, cfg_i, k0, n_arr, t)
            if g == 0:
                hn = _push(heap, hn, pf, pi, s)
                hn, g, R, rho = _take(pf, pi, rb, rs, heap, hn, grp)
            elif r0 < R:
                hn = _requeue(pf, pi, rb, heap, hn, grp, g, R)
                hn = _push(heap, hn, pf, pi, s)
                hn, g, R, rho = _take(pf, pi, rb, rs, heap, hn, grp)
            else:
                hn = _push(heap, hn, pf, pi, s)
            if si[NDONE] >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if g == 0:
            status = DONE
            break
        # ---------------------------------------------------------------- service event
        for gi in range(g):
            m = grp[gi]
            d = pf[m, W] * dt_ev
            pf[m, AGE] += d
            pf[m, REM] -= d
        if R > -_INF:
            R += rho * dt_ev
        if si[INWIN] != 0:
            sf[AREA] += n_sys * dt_ev
        t += dt_ev
        if ev == 1:
            m = grp[evm]
            _complete(cfg_f, cfg_i, pf, pi, sf, si, hist, bsum, bcnt, rec, m, t)
            n_sys -= 1
            free[freen] = m
            freen += 1
            g -= 1
            grp[evm] = grp[g]
            if g > 0:
                hn = _requeue(pf, pi, rb, heap, hn, grp, g, R)
            hn, g, R, rho = _take(pf, pi, rb, rs, heap, hn, grp)
            if si[NDONE] >= jobs and n_arr > endarr:
                status = DONE
                break
        elif ev == 2:
            m = grp[evm]
            pf[m, AGE] = pf[m, END]
            rn = _seg_enter(pf, pi, rb, rs, m)
            grp[evm] = grp[g - 1]
            hn = _requeue(pf, pi, rb, heap, hn, grp, g - 1, R)
            pf[m, RANK] = rn
            hn = _push(heap, hn, pf, pi, m)
            hn, g, R, rho = _take(pf, pi, rb, rs, heap, hn, grp)
        else:
            R = pf[heap[0], RANK]
            hn = _requeue(pf, pi, rb, heap, hn, grp, g, R)
            hn, g, R, rho = _take(pf, pi, rb, rs, heap, hn, grp)
    sf[T] = t
    sf[NEXT] = next_t
    sf[GR] = R
    sf[GRHO] = rho
    si[NARR] = n_arr
    si[NSYS] = n_sys
    si[NG] = g
    si[HN] = hn
    si[FREEN] = freen
    si[NEVENTS] += events
    return status


# ----------------------------------------------------------------------------- M/G/1 PS
@jit
def mg1_ps(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, heap, free, grp, sf, si,
           hist, bsum, bcnt, rec, bufx, bufy, max_events):
    """Run (or resume) one replication of M/G/1 processor sharing.

    Virtual time ``V`` is the service each job in system has received since time 0
    (it grows at rate ``1/n``); a job of size ``x`` arriving at virtual time ``v``
    leaves when ``V`` reaches ``v + x``: the heap holds these finish tags.
    """
    k0, k1, k2, k3, k4 = (_key(cfg_i, 0), _key(cfg_i, 1), _key(cfg_i, 2), _key(cfg_i, 3),
                          _key(cfg_i, 4))
    t = sf[T]
    next_t = sf[NEXT]
    V = sf[VT]
    n_arr = si[NARR]
    n_sys = si[NSYS]
    hn = si[HN]
    freen = si[FREEN]
    jobs = cfg_i[C_JOBS]
    endarr = cfg_i[C_WARM] + jobs  # the arrival that closes the Little's-law window
    if si[STARTED] == 0:
        next_t = _next_arrival(cfg_f, cfg_i, k0, 0, 0.0)
        si[STARTED] = 1
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = (pf[heap[0], RANK] - V) * n_sys if hn > 0 else _INF
        if dt_ev < 0.0:
            dt_ev = 0.0
        dt_arr = next_t - t
        if next_t < _INF and dt_arr <= dt_ev:
            idx = n_arr
            if cfg_i[C_MODE] == 1 and idx >= si[BUF0] + si[BUFN]:
                status = NEED_DATA
                events -= 1  # not processed
                break
            if freen == 0:
                status = GROW
                events -= 1  # not processed
                break
            if n_sys > 0:
                V += dt_arr / n_sys
            if si[INWIN] != 0:
                sf[AREA] += n_sys * dt_arr
            t = next_t
            _window(cfg_i, sf, si, idx, t)
            x, y, key = _draw_job(cfg_i, sprm, nprm, ccum, k1, k2, k3, k4, bufx, bufy,
                                     si[BUF0], idx)
            freen -= 1
            s = free[freen]
            pf[s, ARR] = t
            pf[s, SIZE] = x
            pf[s, PRED] = y
            pf[s, RANK] = V + x
            pi[s, SEQ] = idx
            hn = _push(heap, hn, pf, pi, s)
            n_sys += 1
            if n_sys > si[MAXSYS]:
                si[MAXSYS] = n_sys
            n_arr += 1
            next_t = _next_arrival(cfg_f, cfg_i, k0, n_arr, t)
            if si[NDONE] >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if hn == 0:
            status = DONE
            break
        s = _pop(heap, hn, pf, pi)
        hn -= 1
        V = pf[s, RANK]
        if si[INWIN] != 0:
            sf[AREA] += n_sys * dt_ev
        t += dt_ev
        _complete(cfg_f, cfg_i, pf, pi, sf, si, hist, bsum, bcnt, rec, s, t)
        n_sys -= 1
        free[freen] = s
        freen += 1
        if n_sys == 0:
            V = 0.0  # restart virtual time in each busy period (keeps tags small)
        if si[NDONE] >= jobs and n_arr > endarr:
            status = DONE
            break
    sf[T] = t
    sf[NEXT] = next_t
    sf[VT] = V
    si[NARR] = n_arr
    si[NSYS] = n_sys
    si[HN] = hn
    si[FREEN] = freen
    si[NEVENTS] += events
    return status


# ----------------------------------------------------------------------------- M/G/k rank
@jit
def _worst(pf, pi, grp, g):
    """Index in ``grp`` of the served job with the highest (rank, arrival number)."""
    wi = 0
    for i in range(1, g):
        if _less(pf, pi, grp[wi], grp[i]):
            wi = i
    return wi


@jit
def _start_service(pf, pi, rb, rs, s):
    pf[s, RANK] = _serve_rank(pf, pi, rb, rs, s)


@jit
def mgk_rank(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, heap, free, grp, sf, si,
             hist, bsum, bcnt, rec, bufx, bufy, max_events):
    """Run (or resume) one replication of an M/G/k rank policy (central queue).

    ``k = cfg_i[C_SERVERS]`` servers of speed ``1/k`` serve the ``k`` jobs of lowest
    rank; ranks must not rise with age (no FB-like policies). While served, a job's
    row holds its current rank, updated at every event.
    """
    k0, k1, k2, k3, k4 = (_key(cfg_i, 0), _key(cfg_i, 1), _key(cfg_i, 2), _key(cfg_i, 3),
                          _key(cfg_i, 4))
    kserv = cfg_i[C_SERVERS]
    speed = 1.0 / kserv
    t = sf[T]
    next_t = sf[NEXT]
    n_arr = si[NARR]
    n_sys = si[NSYS]
    g = si[NG]
    hn = si[HN]
    freen = si[FREEN]
    jobs = cfg_i[C_JOBS]
    endarr = cfg_i[C_WARM] + jobs  # the arrival that closes the Little's-law window
    if si[STARTED] == 0:
        next_t = _next_arrival(cfg_f, cfg_i, k0, 0, 0.0)
        si[STARTED] = 1
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = _INF
        ev = 0
        evm = -1
        for gi in range(g):
            m = grp[gi]
            d = pf[m, REM] * kserv
            if d < dt_ev:
                dt_ev = d
                ev = 1
                evm = gi
            d = (pf[m, END] - pf[m, AGE]) * kserv
            if d < dt_ev:
                dt_ev = d
                ev = 2
                evm = gi
        dt_arr = next_t - t
        dt = dt_arr if (next_t < _INF and dt_arr <= dt_ev) else dt_ev
        is_arr = next_t < _INF and dt_arr <= dt_ev
        if is_arr:
            if cfg_i[C_MODE] == 1 and n_arr >= si[BUF0] + si[BUFN]:
                status = NEED_DATA
                events -= 1  # not processed
                break
            if freen == 0:
                status = GROW
                events -= 1  # not processed
                break
        elif g == 0:
            status = DONE
            break
        d = dt * speed
        for gi in range(g):
            m = grp[gi]
            pf[m, AGE] += d
            pf[m, REM] -= d
            if pf[m, RANK] > -_INF:
                pf[m, RANK] += pf[m, SLOPE] * d
        if si[INWIN] != 0:
            sf[AREA] += n_sys * dt
        t += dt
        if is_arr:
            t = next_t
            idx = n_arr
            _window(cfg_i, sf, si, idx, t)
            x, y, key = _draw_job(cfg_i, sprm, nprm, ccum, k1, k2, k3, k4, bufx, bufy,
                                     si[BUF0], idx)
            freen -= 1
            s = free[freen]
            r0 = _init_row(pf, pi, rb, rs, s, idx, t, x, y, key)
            n_sys += 1
            if n_sys > si[MAXSYS]:
                si[MAXSYS] = n_sys
            n_arr += 1
            next_t = _next_arrival(cfg_f, cfg_i, k0, n_arr, t)
            if g < kserv:
                grp[g] = s
                g += 1
                _start_service(pf, pi, rb, rs, s)
            else:
                wi = _worst(pf, pi, grp, g)
                q = grp[wi]
                if r0 < pf[q, RANK]:
                    pf[q, RANK] = _wait_rank(pf, pi, rb, q, pf[q, RANK])
                    hn = _push(heap, hn, pf, pi, q)
                    grp[wi] = s
                    _start_service(pf, pi, rb, rs, s)
                else:
                    hn = _push(heap, hn, pf, pi, s)
            if si[NDONE] >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        m = grp[evm]
        if ev == 1:
            _complete(cfg_f, cfg_i, pf, pi, sf, si, hist, bsum, bcnt, rec, m, t)
            n_sys -= 1
            free[freen] = m
            freen += 1
            g -= 1
            grp[evm] = grp[g]
            if hn > 0:
                s = _pop(heap, hn, pf, pi)
                hn -= 1
                grp[g] = s
                g += 1
                _start_service(pf, pi, rb, rs, s)
            if si[NDONE] >= jobs and n_arr > endarr:
                status = DONE
                break
        else:
            pf[m, AGE] = pf[m, END]
            pf[m, RANK] = _seg_enter(pf, pi, rb, rs, m)
            # a rank that jumped up may now lose to a waiting job
            while hn > 0:
                wi = _worst(pf, pi, grp, g)
                q = grp[wi]
                h = heap[0]
                if pf[h, RANK] < pf[q, RANK]:
                    s = _pop(heap, hn, pf, pi)
                    hn -= 1
                    hn = _push(heap, hn, pf, pi, q)
                    grp[wi] = s
                    _start_service(pf, pi, rb, rs, s)
                else:
                    break
    sf[T] = t
    sf[NEXT] = next_t
    si[NARR] = n_arr
    si[NSYS] = n_sys
    si[NG] = g
    si[HN] = hn
    si[FREEN] = freen
    si[NEVENTS] += events
    return status
