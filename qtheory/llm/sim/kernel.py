"""The token-level LLM serving kernel (Numba, no allocation, no Python in the loop).

One call simulates one replication of ``N`` requests whose arrival times, prompt and
output lengths and initial predictions are given as arrays (drawn by
:mod:`qtheory.llm.sim.draws`). The model is described in ``docs/llm_simulation.md``
and in :mod:`qtheory.llm.sim`; this module implements it with event jumping: between
two *events* (an arrival becoming visible, a completion, a KV-memory overflow, a rank
change of a running request under a preemptive scheduler) every iteration is a pure
decode step of the same running set, so ``k`` iterations are executed at once in
closed form: the iteration times form an arithmetic series (``LinearTime``) or are
constant (``UnitTime``, ``StaircaseTime``), the KV tokens grow by ``n`` per iteration
and the KV blocks by a periodic pattern read from a histogram of block phases.

Data structures (all preallocated by the driver):

* waiting requests: a binary min-heap of ``(rank, arrival index)``;
* running requests: ``max_batch`` slots; indexed binary heaps over slots for the next
  completion (by the iteration index of the last token), for the priority-preemption
  victim (max rank, preemptive schedulers only) and for the next rank change
  (refinement, TRAIL's preemption limit, MLFQ demotion).

Only scalar and array code is used, so that the same functions could be compiled by
``numba.cuda``.
"""

from __future__ import annotations

import math

import numpy as np

from ...sim._jit import jit, jit_inline
from ...sim.rng import uniform
from ...sim.sampling import draw_noise

__all__ = ["run", "rank_of", "refined_total", "next_change", "mlfq_level",
           "FCFS", "SJF", "SPJF", "SPRPT", "TRAIL", "MCSF", "WAIT", "ALISE", "MLFQ",
           "M_RECOMPUTE", "M_SWAP", "M_RESTART", "M_KEEP"]

# scheduler codes (qtheory.llm.schedulers)
FCFS, SJF, SPJF, SPRPT, TRAIL, MCSF, WAIT, ALISE, MLFQ = 0, 1, 2, 3, 4, 5, 6, 7, 8
# preemption modes (Server.preemption)
M_RECOMPUTE, M_SWAP, M_RESTART, M_KEEP = 0, 1, 2, 3
# request states
S_FUTURE, S_WAIT, S_PREFILL, S_DECODE, S_DONE, S_SWAPPED, S_PAUSED = 0, 1, 2, 3, 4, 5, 6

# cfg_i layout
CI_N, CI_B, CI_CAP, CI_MAXB, CI_BUDGET, CI_CHUNK, CI_EMIT, CI_MODE = 0, 1, 2, 3, 4, 5, 6, 7
CI_POL, CI_STEP, CI_NCODE, CI_NTRACE, CI_SWAPOK, CI_WARM = 8, 9, 10, 11, 12, 13
NCI = 16
# cfg_f layout
CF_P0, CF_P1, CF_P2, CF_TCODE, CF_COMP, CF_BW, CF_TRDT = 0, 1, 2, 3, 4, 5, 6
# a user iteration-time callable's first bad value and its arguments (see user_time.py)
CF_ERR, CF_ERR_BT, CF_ERR_KV, CF_ERR_BS = 7, 8, 9, 10
NCF = 12
# stats layout (outputs)
ST_T, ST_ITERS, ST_AREA_KV, ST_MAXBLK, ST_PREEMPT, ST_RECOMP, ST_SWAPTOK, ST_EVICT = range(8)
ST_EVENTS, ST_BUSY, ST_STATUS, ST_MAXTOK, ST_PRIO = 8, 9, 10, 11, 12
# the steady-state window: (time, KV area) when arrival ``warmup`` and the last become visible
ST_W0T, ST_W0A, ST_W1T, ST_W1A = 13, 14, 15, 16
NST = 20
# per-request int state rows (ri)
R_ST, R_G, R_D0, R_SLOT, R_PF, R_NPRE = 0, 1, 2, 3, 4, 5
NRI = 6
# slot int rows (si)
Q_ID, Q_FREE, Q_RL, Q_RLPOS, Q_FH, Q_FPOS, Q_FTIE, Q_VH, Q_VPOS, Q_VTIE = range(10)
Q_CH, Q_CPOS, Q_CTIE, Q_PQ, Q_PEND = 10, 11, 12, 13, 14
# MC-SF: decoders' predicted lines sorted by predicted end (Q_ME), their offsets (Q_MC),
# the blocks held at their end by every decoder predicted to run until then (Q_MM),
# their slots (Q_MS); the count is hs[3]
Q_ME, Q_MC, Q_MM, Q_MS = 15, 16, 17, 18
NSI = 19
# slot float rows (sk)
K_F, K_V, K_C = 0, 1, 2
NSK = 3
# counters (cnt_i): sizes of the structures
N_WAIT, N_RUN, N_FREE, N_FH, N_VH, N_CH, N_PQ, N_PEND, N_DEC, N_PAUSED = range(10)
NCNT = 12

NEG_RANK = -1.0e300
NO_CHANGE = -1


# ---------------------------------------------------------------------------- heaps
@jit_inline
def _lt(key, tie, a, b):
    ka = key[a]
    kb = key[b]
    return ka < kb or (ka == kb and tie[a] < tie[b])


@jit
def _sift_up(h, pos, key, tie, p):
    s = h[p]
    while p > 0:
        q = (p - 1) >> 1
        t = h[q]
        if _lt(key, tie, s, t):
            h[p] = t
            pos[t] = p
            p = q
        else:
            break
    h[p] = s
    pos[s] = p


@jit
def _sift_down(h, pos, key, tie, p, n):
    s = h[p]
    while True:
        c = 2 * p + 1
        if c >= n:
            break
        if c + 1 < n and _lt(key, tie, h[c + 1], h[c]):
            c += 1
        t = h[c]
        if _lt(key, tie, t, s):
            h[p] = t
            pos[t] = p
            p = c
        else:
            break
    h[p] = s
    pos[s] = p


@jit
def hpush(h, pos, key, tie, n, s):
    """Push slot ``s`` on the indexed min-heap of size ``n``; returns the new size."""
    h[n] = s
    pos[s] = n
    _sift_up(h, pos, key, tie, n)
    return n + 1


@jit
def hremove(h, pos, key, tie, n, s):
    """Remove slot ``s`` (if present) from the indexed heap; returns the new size."""
    p = pos[s]
    if p < 0:
        return n
    n -= 1
    pos[s] = -1
    if p != n:
        last = h[n]
        h[p] = last
        pos[last] = p
        _sift_down(h, pos, key, tie, p, n)
        _sift_up(h, pos, key, tie, pos[last])
    return n


@jit
def hupdate(h, pos, key, tie, n, s):
    """Restore the heap after ``key[s]`` changed."""
    p = pos[s]
    _sift_down(h, pos, key, tie, p, n)
    _sift_up(h, pos, key, tie, pos[s])


@jit
def wpush(wk, wi, n, rank, i):
    """Push request ``i`` with ``rank`` on the waiting min-heap (ties by index)."""
    p = n
    while p > 0:
        q = (p - 1) >> 1
        if rank < wk[q] or (rank == wk[q] and i < wi[q]):
            wk[p] = wk[q]
            wi[p] = wi[q]
            p = q
        else:
            break
    wk[p] = rank
    wi[p] = i
    return n + 1


@jit
def wpop(wk, wi, n):
    """Remove the top of the waiting heap; returns the new size."""
    n -= 1
    if n == 0:
        return 0
    rank = wk[n]
    i = wi[n]
    p = 0
    while True:
        c = 2 * p + 1
        if c >= n:
            break
        if c + 1 < n and (wk[c + 1] < wk[c] or (wk[c + 1] == wk[c] and wi[c + 1] < wi[c])):
            c += 1
        if wk[c] < rank or (wk[c] == rank and wi[c] < i):
            wk[p] = wk[c]
            wi[p] = wi[c]
            p = c
        else:
            break
    wk[p] = rank
    wi[p] = i
    return n


# ---------------------------------------------------------------------------- ranks
@jit_inline
def _blocks(h, b, sh):
    # ceil(h / b); sh = log2(b) when b is a power of two (a shift instead of a division)
    if sh >= 0:
        return (h + b - 1) >> sh
    return (h + b - 1) // b


@jit
def refined_total(sprm, nkey, ncode, nprm, i, g, o, y):
    """Predicted total output of request ``i`` after ``g`` generated tokens.

    ``Y`` until the first refinement; then, at ``g_k = k R`` (``R = refine_every``),
    ``g_k + (o - g_k) Z_k`` with ``Z_k`` the noise factor of draw ``i * 2**24 + k`` of
    the refinement stream.
    """
    r = int(sprm[1])
    if r <= 0 or g < r:
        return y
    k = g // r
    gk = k * r
    z = draw_noise(ncode, nprm, uniform(nkey, np.uint64(i) * np.uint64(16777216)
                                        + np.uint64(k)))
    return gk + (o - gk) * z


@jit
def mlfq_level(sprm, entry, g):
    """MLFQ level after ``g`` generated tokens for a request entering at level ``entry``
    and the next ``g`` at which it is demoted (``-1``: none)."""
    q0 = sprm[4]
    nl = int(sprm[5])
    lev = int(entry)
    acc = q0 * 2.0 ** lev
    while lev < nl - 1 and g >= acc:
        lev += 1
        acc += q0 * 2.0 ** lev
    if lev >= nl - 1:
        return lev, NO_CHANGE
    return lev, int(math.ceil(acc))


@jit
def _keep_level(sprm, entry, g):
    """MLFQ under ``restart``: the level a request re-enters at after losing its ``g``
    tokens (its current level; the service it received still counts). Re-entering at
    its entry level instead would let restarted requests preempt each other forever
    (each preemption promotes the victim back to the top): a livelock."""
    lev, _nx = mlfq_level(sprm, entry, g)
    return float(lev)


@jit
def rank_of(pol, sprm, nkey, ncode, nprm, i, g, o, y, aux):
    """Rank (lower served first) of request ``i`` with ``g`` tokens generated."""
    if pol == FCFS or pol == WAIT:
        return float(i)
    if pol == SJF:
        return float(o)
    if pol == SPJF or pol == MCSF:
        return y
    if pol == MLFQ:
        lev, _nx = mlfq_level(sprm, aux, g)
        return float(lev)
    if pol == TRAIL and g >= sprm[2] * y:
        return NEG_RANK
    return refined_total(sprm, nkey, ncode, nprm, i, g, o, y) - g


@jit_inline
def wait_stage(sprm, g):
    """Nested WAIT: the stage of a request with ``g`` generated tokens (the number of
    stage boundaries ``sprm[5], sprm[6]`` it has reached)."""
    k = 0
    nb = int(sprm[1]) - 1
    while k < nb and g >= sprm[5 + k]:
        k += 1
    return k


@jit
def next_change(pol, sprm, g, y, aux):
    """The next generated count ``> g`` at which the rank changes other than by the
    steady ``-1`` per token (``-1``: never)."""
    nxt = NO_CHANGE
    if pol == SPRPT or pol == TRAIL or pol == ALISE:
        r = int(sprm[1])
        if r > 0:
            nxt = (g // r + 1) * r
        if pol == TRAIL and g < sprm[2] * y:
            lim = int(math.ceil(sprm[2] * y))
            if lim <= g:
                lim = g + 1
            if nxt == NO_CHANGE or lim < nxt:
                nxt = lim
    elif pol == MLFQ:
        _lev, nx = mlfq_level(sprm, aux, g)
        nxt = nx
    elif pol == WAIT and sprm[7] != 0:
        k = wait_stage(sprm, g)
        if k < int(sprm[1]) - 1:
            nxt = int(sprm[5 + k])
    return nxt


@jit_inline
def _slope(pol):
    # ranks that fall by one per generated token
    return 1.0 if (pol == SPRPT or pol == TRAIL or pol == ALISE) else 0.0


# ---------------------------------------------------------------------------- time
@jit_inline
def _tau(cf, bt, kv, bs):
    code = int(cf[CF_TCODE])
    if code == 0:
        t = cf[CF_P0]
    elif code == 1:
        t = cf[CF_P0] + cf[CF_P1] * kv
    else:
        t = cf[CF_P0] + cf[CF_P1] * math.ceil(bt / cf[CF_P2])
    return t + cf[CF_COMP] * bt


@jit_inline
def _series(a, b, k):
    # sum_{j<k} (a + b j)
    return k * a + b * (k * (k - 1) * 0.5)


@jit
def _growth(cnt, bsz, g0, n, k):
    # sum_{m=1..k} cnt[(g0 + m) mod bsz]
    q = k // bsz
    r = k - q * bsz
    s = q * n
    for m in range(1, r + 1):
        s += cnt[(g0 + m) % bsz]
    return s


# ---------------------------------------------------------------------------- kernel
@jit
def run(cfg_i, cfg_f, sprm, nprm, nkey, arr, lp, lo, yp, aux, first, done, ri, rk,
        wk, wi, si, sk, cnt, hs, paused, trace, stats):
    """Simulate one replication; returns a status (0 done, 1 deadlock)."""
    n_req = cfg_i[CI_N]
    bsz = cfg_i[CI_B]
    bsh = -1
    if bsz & (bsz - 1) == 0:
        bsh = 0
        while (1 << bsh) < bsz:
            bsh += 1
    cap = cfg_i[CI_CAP]
    maxb = cfg_i[CI_MAXB]
    budget = cfg_i[CI_BUDGET]
    chunked = cfg_i[CI_CHUNK] != 0
    emit = cfg_i[CI_EMIT]
    mode = cfg_i[CI_MODE]
    pol = cfg_i[CI_POL]
    step_only = cfg_i[CI_STEP] != 0
    ncode = cfg_i[CI_NCODE]
    ntrace = cfg_i[CI_NTRACE]
    tr_dt = cfg_f[CF_TRDT]
    bw = cfg_f[CF_BW]
    victim_rule = int(sprm[0])
    slope = _slope(pol)
    preemptive = pol == SPRPT or pol == TRAIL or pol == ALISE or pol == MLFQ
    nested = pol == WAIT and sprm[7] != 0
    has_change = preemptive and next_change(pol, sprm, 0, 1.0e300, 0.0) != NO_CHANGE \
        or pol == TRAIL or pol == MLFQ or nested
    keep_thr = sprm[3]
    # WAIT parameters
    w_types = int(sprm[1])

    sid = si[Q_ID]
    fh = si[Q_FH]
    fpos = si[Q_FPOS]
    ftie = si[Q_FTIE]
    vh = si[Q_VH]
    vpos = si[Q_VPOS]
    vtie = si[Q_VTIE]
    ch = si[Q_CH]
    cpos = si[Q_CPOS]
    ctie = si[Q_CTIE]
    fkey = sk[K_F]
    vkey = sk[K_V]
    ckey = sk[K_C]
    freel = si[Q_FREE]
    rl = si[Q_RL]
    rlpos = si[Q_RLPOS]
    pq = si[Q_PQ]
    pend = si[Q_PEND]

    nw = 0      # waiting heap size
    nrun = 0
    nfree = maxb
    for s in range(maxb):
        freel[s] = maxb - 1 - s
        fpos[s] = -1
        vpos[s] = -1
        cpos[s] = -1
    hs[0] = 0
    hs[1] = 0
    hs[2] = 0
    hs[3] = 0
    npq = 0
    npend = 0
    ndec = 0
    npaused = 0
    for b in range(bsz):
        cnt[b] = 0
    k_dec = 0.0      # KV tokens of decoding requests during the next iteration
    k_paused = 0.0   # KV tokens held by paused requests
    blk = 0          # KV blocks needed by the next iteration (decoders, prefills, paused)
    t = 0.0
    big_g = 0        # iterations executed
    na = 0           # next arrival
    ndone = 0
    tr_next = 0
    w_count0 = 0     # WAIT: new requests waiting per type
    w_count1 = 0
    w_count2 = 0
    wq0 = 0          # WAIT: new requests of each type still to admit in this cohort
    wq1 = 0
    wq2 = 0
    for j in range(NST):
        stats[j] = 0.0
    warm = cfg_i[CI_WARM]
    stats[ST_W0T] = -1.0
    stats[ST_W1T] = -1.0
    status = 0

    while ndone < n_req:
        # ---- arrivals visible at this boundary
        while na < n_req and arr[na] <= t:
            i = na
            ri[R_ST, i] = S_WAIT
            ri[R_G, i] = 0
            ri[R_PF, i] = 0
            ri[R_NPRE, i] = 0
            first[i] = math.nan
            done[i] = math.nan
            r = rank_of(pol, sprm, nkey, ncode, nprm, i, 0, lo[i], yp[i], aux[i])
            rk[i] = r
            nw = wpush(wk, wi, nw, r, i)
            if pol == WAIT:
                ty = int(aux[i])
                if ty == 0:
                    w_count0 += 1
                elif ty == 1:
                    w_count1 += 1
                else:
                    w_count2 += 1
            na += 1
        # ---- steady-state window of the KV time average: from the boundary at which
        # the first measured arrival is visible to the one at which the last is
        if na > warm and stats[ST_W0T] < 0.0:
            stats[ST_W0T] = t
            stats[ST_W0A] = stats[ST_AREA_KV]
        if na >= n_req and stats[ST_W1T] < 0.0:
            stats[ST_W1T] = t
            stats[ST_W1A] = stats[ST_AREA_KV]
        if nrun == 0 and nw == 0:
            if na >= n_req:
                break
            # KV trace samples in the idle gap
            while tr_next < ntrace and tr_next * tr_dt < arr[na]:
                trace[0, tr_next] = tr_next * tr_dt
                trace[1, tr_next] = k_dec + k_paused
                trace[2, tr_next] = blk
                trace[3, tr_next] = 0.0
                tr_next += 1
            t = arr[na]
            continue
        stats[ST_EVENTS] += 1.0
        # ---- rank changes of running decoders due at this boundary
        while hs[2] > 0 and ckey[ch[0]] <= big_g:
            s = ch[0]
            i = sid[s]
            g = ri[R_G, i] + (big_g - ri[R_D0, i])
            if nested:
                # Nested WAIT: the request finished a stage without completing: it
                # pauses with its KV kept until the next stage's cohort admits it
                h, npend, nrun, nfree = _stop_decoder(
                    i, s, g, pol, bsz, bsh, lp, ri, cnt, si, hs, fh, fpos, fkey, ftie,
                    vh, vpos, vkey, vtie, ch, cpos, ckey, ctie, pend, npend, rl, rlpos, freel,
                    nrun, nfree)
                k_dec -= h
                blk += _blocks(lp[i] + g, bsz, bsh) - _blocks(h, bsz, bsh)
                ndec -= 1
                ri[R_ST, i] = S_PAUSED
                paused[npaused] = i
                ri[R_SLOT, i] = npaused
                npaused += 1
                k_paused += lp[i] + g
                nw = wpush(wk, wi, nw, rk[i], i)
                ty = wait_stage(sprm, g)
                if ty == 1:
                    w_count1 += 1
                else:
                    w_count2 += 1
                continue
            r = rank_of(pol, sprm, nkey, ncode, nprm, i, g, lo[i], yp[i], aux[i])
            rk[i] = r + slope * big_g
            if vpos[s] >= 0:
                if r <= NEG_RANK:
                    hs[1] = hremove(vh, vpos, vkey, vtie, hs[1], s)
                else:
                    vkey[s] = -rk[i]
                    hupdate(vh, vpos, vkey, vtie, hs[1], s)
            nx = next_change(pol, sprm, g, yp[i], aux[i])
            if nx != NO_CHANGE:
                at = ri[R_D0, i] + (nx - ri[R_G, i])
                if at <= fkey[s]:
                    ckey[s] = at
                    hupdate(ch, cpos, ckey, ctie, hs[2], s)
                    continue
            hs[2] = hremove(ch, cpos, ckey, ctie, hs[2], s)
        sw_time = 0.0
        # ---- memory: evict until the next iteration fits
        evicted = False
        mc_ok = True
        w_next = False
        while blk > cap:
            evicted = True
            if npaused > 0:
                # paused requests go first: the newest / lowest priority of them
                best = -1
                bv = 0.0
                for q in range(npaused):
                    j = paused[q]
                    v = float(j) if victim_rule == 0 else rk[j]
                    if best < 0 or v > bv or (v == bv and j > paused[best]):
                        best = q
                        bv = v
                i = paused[best]
                npaused -= 1
                paused[best] = paused[npaused]
                ri[R_SLOT, paused[best]] = best
                g = ri[R_G, i]
                blk -= _blocks(lp[i] + g, bsz, bsh)
                k_paused -= lp[i] + g
                if nested:
                    # it leaves its stage's queue and is readmitted first-come
                    # first-served, its KV recomputed
                    if wait_stage(sprm, g) == 1:
                        w_count1 -= 1
                        if w_count1 < wq1:
                            wq1 = w_count1
                    else:
                        w_count2 -= 1
                        if w_count2 < wq2:
                            wq2 = w_count2
                    ri[R_NPRE, i] += 1
                if pol == ALISE and cfg_i[CI_SWAPOK] != 0:
                    ri[R_ST, i] = S_SWAPPED
                    sw_time += (lp[i] + g) / bw
                    stats[ST_SWAPTOK] += lp[i] + g
                else:
                    ri[R_ST, i] = S_WAIT
                    stats[ST_RECOMP] += lp[i] + g
                stats[ST_EVICT] += 1.0
                continue
            # a running victim by the rule (linear scan)
            best = -1
            bv = 0.0
            for q in range(nrun):
                s = rl[q]
                j = sid[s]
                if victim_rule == 0:
                    v = float(j)
                elif ri[R_ST, j] == S_DECODE:
                    v = rk[j] - slope * big_g
                else:
                    v = rk[j]
                if best < 0 or v > bv or (v == bv and j > sid[best]):
                    best = s
                    bv = v
            s = best
            i = sid[s]
            stats[ST_EVICT] += 1.0
            stats[ST_PREEMPT] += 1.0
            ri[R_NPRE, i] += 1
            # --- remove from running (common), then apply the mode
            if ri[R_ST, i] == S_DECODE:
                g = ri[R_G, i] + (big_g - ri[R_D0, i])
                h, npend, nrun, nfree = _stop_decoder(
                    i, s, g, pol, bsz, bsh, lp, ri, cnt, si, hs, fh, fpos, fkey, ftie,
                    vh, vpos, vkey, vtie, ch, cpos, ckey, ctie, pend, npend, rl, rlpos, freel,
                    nrun, nfree)
                k_dec -= h
                blk -= _blocks(h, bsz, bsh)
                ndec -= 1
                if mode == M_SWAP:
                    ri[R_ST, i] = S_SWAPPED
                    sw_time += (lp[i] + g) / bw
                    stats[ST_SWAPTOK] += lp[i] + g
                elif mode == M_RESTART:
                    stats[ST_RECOMP] += lp[i] + g
                    if pol == MLFQ:  # it keeps its level (see _keep_level)
                        aux[i] = _keep_level(sprm, aux[i], g)
                    ri[R_G, i] = 0
                    ri[R_ST, i] = S_WAIT
                else:
                    stats[ST_RECOMP] += lp[i] + g
                    ri[R_ST, i] = S_WAIT
            else:
                # in prefill: its partial prefill is lost
                g = ri[R_G, i]
                blk -= _blocks(lp[i] + g + emit, bsz, bsh)
                stats[ST_RECOMP] += ri[R_PF, i]
                ri[R_PF, i] = 0
                for q in range(npq):
                    if pq[q] == i:
                        for q2 in range(q, npq - 1):
                            pq[q2] = pq[q2 + 1]
                        npq -= 1
                        break
                if mode == M_RESTART:
                    stats[ST_RECOMP] += g
                    if pol == MLFQ:
                        aux[i] = _keep_level(sprm, aux[i], g)
                    ri[R_G, i] = 0
                ri[R_ST, i] = S_WAIT
                q = rlpos[s]
                nrun -= 1
                rl[q] = rl[nrun]
                rlpos[rl[q]] = q
                freel[nfree] = s
                nfree += 1
            r = rank_of(pol, sprm, nkey, ncode, nprm, i, ri[R_G, i], lo[i], yp[i], aux[i])
            rk[i] = r
            nw = wpush(wk, wi, nw, r, i)
        # ---- budget left for new work this iteration
        left = budget - ndec
        for q in range(npq):
            j = pq[q]
            rem = lp[j] + ri[R_G, j] - ri[R_PF, j]
            left -= rem if rem < left else left
        # ---- admission (and priority preemption)
        if not evicted:
            # WAIT: open cohorts (see _wait_open)
            ndefer = 0
            if pol == WAIT:
                wq0, wq1, wq2 = _wait_open(w_types, sprm, w_count0, w_count1,
                                           w_count2, wq0, wq1, wq2, na >= n_req)
            while nw > 0:
                i = wi[0]
                sti = ri[R_ST, i]
                g = ri[R_G, i]
                gated = pol == WAIT and (sti == S_WAIT and g == 0 and ri[R_NPRE, i] == 0
                                         or sti == S_PAUSED)
                if gated:
                    if wq0 + wq1 + wq2 == 0:
                        break
                    ty = wait_stage(sprm, g) if nested else int(aux[i])
                    if (wq0 if ty == 0 else (wq1 if ty == 1 else wq2)) == 0:
                        # its type's share of the cohort is admitted: set it aside
                        nw = wpop(wk, wi, nw)
                        ndefer += 1
                        wi[n_req - ndefer] = i
                        continue
                # what the request needs
                if sti == S_WAIT:
                    p_tok = lp[i] + g
                    need_b = _blocks(p_tok + emit, bsz, bsh)
                    need_t = p_tok if (not chunked and p_tok <= budget) else 1
                elif sti == S_SWAPPED:
                    need_b = _blocks(lp[i] + g + 1, bsz, bsh)
                    need_t = 1
                else:  # paused
                    need_b = _blocks(lp[i] + g + 1, bsz, bsh) - _blocks(lp[i] + g, bsz, bsh)
                    need_t = 1
                fit_slot = nrun < maxb
                fit_tok = left >= need_t
                fit_mem = blk + need_b <= cap
                if pol == MCSF and nrun > 0 and fit_slot and fit_tok and fit_mem:
                    fit_mem = _mcsf_ok(i, big_g, bsz, bsh, cap, emit, lp, yp, ri, si, hs, pq, npq)
                    mc_ok = fit_mem
                if fit_slot and fit_tok and fit_mem:
                    nw = wpop(wk, wi, nw)
                    if sti == S_PAUSED:
                        q = ri[R_SLOT, i]
                        npaused -= 1
                        paused[q] = paused[npaused]
                        ri[R_SLOT, paused[q]] = q
                        k_paused -= lp[i] + g
                    s = freel[nfree - 1]
                    nfree -= 1
                    sid[s] = i
                    ri[R_SLOT, i] = s
                    rl[nrun] = s
                    rlpos[s] = nrun
                    nrun += 1
                    fpos[s] = -1
                    vpos[s] = -1
                    cpos[s] = -1
                    if gated:
                        ty = wait_stage(sprm, g) if nested else int(aux[i])
                        if ty == 0:
                            w_count0 -= 1
                            wq0 -= 1
                        elif ty == 1:
                            w_count1 -= 1
                            wq1 -= 1
                        else:
                            w_count2 -= 1
                            wq2 -= 1
                    if sti == S_WAIT:
                        ri[R_ST, i] = S_PREFILL
                        ri[R_PF, i] = 0
                        blk += need_b
                        pq[npq] = i
                        npq += 1
                        take = p_tok if p_tok < left else left
                        left -= take
                    else:
                        if sti == S_SWAPPED:
                            sw_time += (lp[i] + g) / bw
                            stats[ST_SWAPTOK] += lp[i] + g
                        blk += need_b
                        left -= 1
                        _start_decode(i, s, big_g, g, bsz, pol, sprm, nkey, ncode, nprm, slope,
                                      preemptive, has_change, lp, lo, yp, aux, ri, rk, cnt,
                                      sid, fh, fpos, fkey, ftie, vh, vpos, vkey, vtie,
                                      ch, cpos, ckey, ctie, hs)
                        if pol == MCSF:
                            _mc_insert(si, hs, s, i, big_g, bsz, bsh, emit, lp, yp, ri)
                        k_dec += lp[i] + g + 1
                        ndec += 1
                    continue
                if not preemptive or hs[1] == 0:
                    break
                # priority preemption: the worst preemptible running decoder
                s = vh[0]
                j = sid[s]
                rj = rk[j] - slope * big_g
                if not (wk[0] < rj):
                    break
                if not fit_mem and fit_slot and fit_tok and (
                        mode == M_KEEP or pol == ALISE):
                    # pausing frees no memory
                    if pol != ALISE:
                        break
                # preempt j
                g = ri[R_G, j] + (big_g - ri[R_D0, j])
                h, npend, nrun, nfree = _stop_decoder(
                    j, s, g, pol, bsz, bsh, lp, ri, cnt, si, hs, fh, fpos, fkey, ftie,
                    vh, vpos, vkey, vtie, ch, cpos, ckey, ctie, pend, npend, rl, rlpos, freel,
                    nrun, nfree)
                k_dec -= h
                blk -= _blocks(h, bsz, bsh)
                ndec -= 1
                left += 1
                stats[ST_PREEMPT] += 1.0
                stats[ST_PRIO] += 1.0
                ri[R_NPRE, j] += 1
                pm = mode
                if pol == ALISE:
                    est = wk[0]
                    if est <= keep_thr and fit_mem:
                        pm = M_KEEP
                    elif cfg_i[CI_SWAPOK] != 0:
                        pm = M_SWAP
                    else:
                        pm = M_RECOMPUTE
                if pm == M_KEEP:
                    ri[R_ST, j] = S_PAUSED
                    blk += _blocks(lp[j] + g, bsz, bsh)
                    k_paused += lp[j] + g
                    paused[npaused] = j
                    ri[R_SLOT, j] = npaused
                    npaused += 1
                elif pm == M_SWAP:
                    ri[R_ST, j] = S_SWAPPED
                    sw_time += (lp[j] + g) / bw
                    stats[ST_SWAPTOK] += lp[j] + g
                elif pm == M_RESTART:
                    stats[ST_RECOMP] += lp[j] + g
                    if pol == MLFQ:
                        aux[j] = _keep_level(sprm, aux[j], g)
                    ri[R_G, j] = 0
                    ri[R_ST, j] = S_WAIT
                else:
                    stats[ST_RECOMP] += lp[j] + g
                    ri[R_ST, j] = S_WAIT
                r = rank_of(pol, sprm, nkey, ncode, nprm, j, ri[R_G, j], lo[j], yp[j], aux[j])
                rk[j] = r
                nw = wpush(wk, wi, nw, r, j)
            for q in range(ndefer):
                j = wi[n_req - 1 - q]
                nw = wpush(wk, wi, nw, rk[j], j)
            if pol == WAIT:
                # a cohort that can open at the next boundary makes it an event
                r0, r1, r2 = _wait_open(w_types, sprm, w_count0, w_count1,
                                        w_count2, wq0, wq1, wq2, na >= n_req)
                w_next = r0 > wq0 or r1 > wq1 or r2 > wq2
        if nrun == 0:
            if nested and npaused > 0:
                # Nested WAIT: paused requests wait for their stage's threshold
                # (once no further request will arrive, admission flushes them)
                if na < n_req:
                    if arr[na] > t:
                        t = arr[na]
                    continue
            if npaused > 0:
                # only paused requests hold memory: resume is handled by admission;
                # if even that failed, drop the oldest paused KV
                i = paused[0]
                npaused -= 1
                paused[0] = paused[npaused]
                ri[R_SLOT, paused[0]] = 0
                g = ri[R_G, i]
                blk -= _blocks(lp[i] + g, bsz, bsh)
                k_paused -= lp[i] + g
                ri[R_ST, i] = S_WAIT
                stats[ST_RECOMP] += lp[i] + g
                if nested:
                    if wait_stage(sprm, g) == 1:
                        w_count1 -= 1
                        if w_count1 < wq1:
                            wq1 = w_count1
                    else:
                        w_count2 -= 1
                        if w_count2 < wq2:
                            wq2 = w_count2
                    ri[R_NPRE, i] += 1
                continue
            if na < n_req:
                if arr[na] > t:
                    t = arr[na]
                continue
            status = 1
            break
        # ---- execute: one prefill/swap iteration, or a jump of k decode iterations
        n = ndec
        g_start = big_g
        if npq > 0 or sw_time > 0.0 or evicted or not mc_ok or w_next:
            # admission was skipped (eviction) or refused by MC-SF's time-dependent
            # test: the next boundary may decide differently
            k = 1
        else:
            k = 1 << 62
            if hs[0] > 0:
                kk = int(fkey[fh[0]]) - big_g + 1
                if kk < k:
                    k = kk
            if hs[2] > 0:
                kk = int(ckey[ch[0]]) - big_g
                if kk < k:
                    k = kk
            free = cap - blk
            if n > 0 and free // n < (1 << 40):
                q = free // n
                remn = free - q * n
                part = 0
                rr = 1
                while rr <= bsz:
                    part += cnt[(big_g + rr) % bsz]
                    if part > remn:
                        break
                    rr += 1
                kk = q * bsz + rr
                if kk < k:
                    k = kk
            if step_only:
                k = 1
        # iteration-time series for the decoders (prefill work added below)
        code = int(cfg_f[CF_TCODE])
        kv_pref = 0.0
        bt_pref = 0
        if npq > 0:
            lft = budget - n
            for q in range(npq):
                j = pq[q]
                rem = lp[j] + ri[R_G, j] - ri[R_PF, j]
                c = rem if rem < lft else lft
                lft -= c
                bt_pref += c
                pfn = ri[R_PF, j] + c
                kv_pref += pfn
                if pfn == lp[j] + ri[R_G, j]:
                    kv_pref += emit
        bt = n + bt_pref
        a = _tau(cfg_f, bt, k_dec + kv_pref, nrun) + sw_time
        bb = cfg_f[CF_P1] * n if code == 1 else 0.0
        if k > 1 and na < n_req:
            # stop at the boundary where the next arrival becomes visible
            d = arr[na] - t
            if bb > 0.0:
                x = (-(a - 0.5 * bb) + math.sqrt((a - 0.5 * bb) ** 2 + 2.0 * bb * d)) / bb
            else:
                x = d / a
            if x < 1.0:
                x = 1.0
            if x < k:
                kk = int(math.ceil(x))
                while kk > 1 and t + _series(a, bb, kk - 1) >= arr[na]:
                    kk -= 1
                while kk < k and t + _series(a, bb, kk) < arr[na]:
                    kk += 1
                k = kk
        dt = _series(a, bb, k)
        # first tokens of decoders starting now (no prefill-emitted token)
        for q in range(npend):
            j = pend[q]
            if math.isnan(first[j]):
                first[j] = t + a
        npend = 0
        # statistics over the k iterations
        kt = k_dec + kv_pref + k_paused
        kf = float(k)
        # KV trace samples during these iterations (iteration j holds kt + n j tokens)
        while tr_next < ntrace and tr_next * tr_dt < t + dt:
            x = tr_next * tr_dt - t
            j = 0
            if k > 1 and x > 0.0:
                if bb > 0.0:
                    jf = (-(a - 0.5 * bb) + math.sqrt((a - 0.5 * bb) ** 2 + 2.0 * bb * x)) / bb
                else:
                    jf = x / a
                j = int(jf)
                if j > k - 1:
                    j = k - 1
                while j > 0 and _series(a, bb, j) > x:
                    j -= 1
                while j + 1 < k and _series(a, bb, j + 1) <= x:
                    j += 1
            trace[0, tr_next] = tr_next * tr_dt
            trace[1, tr_next] = kt + n * j
            trace[2, tr_next] = blk + _growth(cnt, bsz, g_start, n, j)
            trace[3, tr_next] = nrun + nw
            tr_next += 1
        stats[ST_AREA_KV] += a * kt * kf + (a * n + bb * kt) * (kf * (kf - 1.0) * 0.5) \
            + bb * n * ((kf - 1.0) * kf * (2.0 * kf - 1.0) / 6.0)
        blk_last = blk + _growth(cnt, bsz, g_start, n, k - 1)
        if blk_last > stats[ST_MAXBLK]:
            stats[ST_MAXBLK] = blk_last
        tok_last = kt + n * (kf - 1.0)
        if tok_last > stats[ST_MAXTOK]:
            stats[ST_MAXTOK] = tok_last
        stats[ST_BUSY] += dt
        stats[ST_ITERS] += kf
        t = t + dt
        big_g = g_start + k
        k_dec += n * kf
        blk += _growth(cnt, bsz, g_start, n, k)
        last = g_start + k - 1
        # completions of decoders at the last executed iteration
        while hs[0] > 0 and int(fkey[fh[0]]) == last:
            s = fh[0]
            i = sid[s]
            done[i] = t
            ri[R_ST, i] = S_DONE
            ndone += 1
            h, npend, nrun, nfree = _stop_decoder(
                i, s, lo[i], pol, bsz, bsh, lp, ri, cnt, si, hs, fh, fpos, fkey, ftie,
                vh, vpos, vkey, vtie, ch, cpos, ckey, ctie, pend, npend, rl, rlpos, freel,
                nrun, nfree)
            k_dec -= h
            blk -= _blocks(h, bsz, bsh)
            ndec -= 1
        # prefill progress
        if npq > 0:
            lft = budget - n
            q = 0
            while q < npq:
                j = pq[q]
                ptot = lp[j] + ri[R_G, j]
                rem = ptot - ri[R_PF, j]
                c = rem if rem < lft else lft
                lft -= c
                ri[R_PF, j] += c
                if ri[R_PF, j] < ptot:
                    q += 1
                    continue
                # prefill complete
                for q2 in range(q, npq - 1):
                    pq[q2] = pq[q2 + 1]
                npq -= 1
                s = ri[R_SLOT, j]
                g = ri[R_G, j]
                blk -= _blocks(ptot + emit, bsz, bsh)
                if emit != 0:
                    g += 1
                    ri[R_G, j] = g
                    if math.isnan(first[j]):
                        first[j] = t
                    if g >= lo[j]:
                        done[j] = t
                        ri[R_ST, j] = S_DONE
                        ndone += 1
                        qq = rlpos[s]
                        nrun -= 1
                        rl[qq] = rl[nrun]
                        rlpos[rl[qq]] = qq
                        freel[nfree] = s
                        nfree += 1
                        continue
                elif math.isnan(first[j]):
                    pend[npend] = j
                    npend += 1
                blk += _blocks(lp[j] + g + 1, bsz, bsh)
                k_dec += lp[j] + g + 1
                ndec += 1
                _start_decode(j, s, big_g, g, bsz, pol, sprm, nkey, ncode, nprm, slope,
                              preemptive, has_change, lp, lo, yp, aux, ri, rk, cnt,
                              sid, fh, fpos, fkey, ftie, vh, vpos, vkey, vtie,
                              ch, cpos, ckey, ctie, hs)
                if pol == MCSF:
                    _mc_insert(si, hs, s, j, big_g, bsz, bsh, emit, lp, yp, ri)
    stats[ST_T] = t
    stats[ST_STATUS] = status
    while tr_next < ntrace:
        trace[0, tr_next] = tr_next * tr_dt
        trace[1, tr_next] = k_dec + k_paused
        trace[2, tr_next] = blk
        trace[3, tr_next] = nrun + nw
        tr_next += 1
    return status


@jit
def _wait_open(n_types, sprm, c0, c1, c2, q0, q1, q2, flush):
    """WAIT's cohorts: new quotas ``(q0, q1, q2)`` of gated requests to admit per
    type (WAIT) or stage (Nested WAIT), given the gated waiting counts ``c``.

    A class whose last cohort is admitted opens the next one, of ``thresholds[j]``
    requests, once that many are waiting; with ``flush`` (no further arrival) it
    admits all its waiting requests.
    """
    if q0 == 0:
        q0 = c0 if (flush and c0 < sprm[2]) else (int(sprm[2]) if c0 >= sprm[2] else 0)
    if n_types > 1 and q1 == 0:
        q1 = c1 if (flush and c1 < sprm[3]) else (int(sprm[3]) if c1 >= sprm[3] else 0)
    if n_types > 2 and q2 == 0:
        q2 = c2 if (flush and c2 < sprm[4]) else (int(sprm[4]) if c2 >= sprm[4] else 0)
    return q0, q1, q2


@jit
def _stop_decoder(i, s, g, pol, bsz, bsh, lp, ri, cnt, si, hs, fh, fpos, fkey, ftie, vh,
                  vpos, vkey, vtie, ch, cpos, ckey, ctie, pend, npend, rl, rlpos, freel,
                  nrun, nfree):
    """Decoder ``i`` (slot ``s``) leaves the batch with ``g`` tokens generated: its
    block phase, heap entries, pending first token and slot are released. Returns
    ``(h, npend, nrun, nfree)``, ``h`` the KV tokens it held in the last iteration
    (the caller updates the KV and decoder counts)."""
    cnt[(ri[R_D0, i] - lp[i] - ri[R_G, i]) % bsz] -= 1
    ri[R_G, i] = g
    hs[0] = hremove(fh, fpos, fkey, ftie, hs[0], s)
    if pol == MCSF:
        _mc_remove(si, hs, s, bsz, bsh)
    hs[1] = hremove(vh, vpos, vkey, vtie, hs[1], s)
    hs[2] = hremove(ch, cpos, ckey, ctie, hs[2], s)
    for q in range(npend):
        if pend[q] == i:
            npend -= 1
            pend[q] = pend[npend]
            break
    q = rlpos[s]
    nrun -= 1
    rl[q] = rl[nrun]
    rlpos[rl[q]] = q
    freel[nfree] = s
    nfree += 1
    return lp[i] + g + 1, npend, nrun, nfree


@jit
def _start_decode(i, s, big_g, g, bsz, pol, sprm, nkey, ncode, nprm, slope, preemptive,
                  has_change, lp, lo, yp, aux, ri, rk, cnt, sid, fh, fpos, fkey, ftie,
                  vh, vpos, vkey, vtie, ch, cpos, ckey, ctie, hs):
    """Request ``i`` in slot ``s`` decodes from iteration ``big_g`` with ``g`` tokens.

    Pushes it on the completion heap (and the victim and change heaps; their sizes are
    ``hs[0..2]``).
    """
    ri[R_ST, i] = S_DECODE
    ri[R_D0, i] = big_g
    ri[R_G, i] = g
    cnt[(big_g - lp[i] - g) % bsz] += 1
    fkey[s] = big_g + (lo[i] - g) - 1
    ftie[s] = i
    hs[0] = hpush(fh, fpos, fkey, ftie, hs[0], s)
    r = rank_of(pol, sprm, nkey, ncode, nprm, i, g, lo[i], yp[i], aux[i])
    rk[i] = r + slope * big_g
    if preemptive and r > NEG_RANK:
        vkey[s] = -rk[i]
        vtie[s] = -i
        hs[1] = hpush(vh, vpos, vkey, vtie, hs[1], s)
    if has_change:
        nx = next_change(pol, sprm, g, yp[i], aux[i])
        if nx != NO_CHANGE:
            at = big_g + (nx - g)
            if at <= fkey[s]:
                ckey[s] = at
                ctie[s] = i
                hs[2] = hpush(ch, cpos, ckey, ctie, hs[2], s)


@jit_inline
def _mcsf_line(j, big_g, emit, lp, yp, ri):
    # (c, E): request j is predicted to hold c + G' tokens at iteration G' <= E
    g = ri[R_G, j]
    py = int(math.ceil(yp[j]))
    if ri[R_ST, j] == S_DECODE:
        d0 = ri[R_D0, j]
        return lp[j] + g - d0 + 1, d0 + py - g - 1
    rem = py - g
    if rem < 1:
        rem = 1
    e = big_g + rem - 1 + (1 - emit)
    return lp[j] + g + emit - big_g, e


@jit
def _mc_insert(si, hs, s, i, big_g, bsz, bsh, emit, lp, yp, ri):
    """MC-SF: add decoder ``i`` (slot ``s``) to the lines sorted by predicted end, in
    O(batch): the held-at-end sums of the earlier-ending lines grow by its blocks."""
    me = si[Q_ME]
    mc = si[Q_MC]
    mm = si[Q_MM]
    ms = si[Q_MS]
    c, e = _mcsf_line(i, big_g, emit, lp, yp, ri)
    n = hs[3]
    p = n
    m = _blocks(c + e, bsz, bsh)
    while p > 0 and me[p - 1] > e:
        me[p] = me[p - 1]
        mc[p] = mc[p - 1]
        mm[p] = mm[p - 1]
        ms[p] = ms[p - 1]
        m += _blocks(mc[p] + e, bsz, bsh)
        p -= 1
    for q in range(p):
        mm[q] += _blocks(c + me[q], bsz, bsh)
        if me[q] == e:
            m += _blocks(mc[q] + e, bsz, bsh)
    me[p] = e
    mc[p] = c
    mm[p] = m
    ms[p] = s
    hs[3] = n + 1


@jit
def _mc_remove(si, hs, s, bsz, bsh):
    """MC-SF: remove the line of slot ``s`` (inverse of :func:`_mc_insert`)."""
    me = si[Q_ME]
    mc = si[Q_MC]
    mm = si[Q_MM]
    ms = si[Q_MS]
    n = hs[3]
    p = 0
    while p < n and ms[p] != s:
        p += 1
    if p == n:
        return
    c = mc[p]
    e = me[p]
    for q in range(n):
        if q != p and me[q] <= e:
            mm[q] -= _blocks(c + me[q], bsz, bsh)
    for q in range(p, n - 1):
        me[q] = me[q + 1]
        mc[q] = mc[q + 1]
        mm[q] = mm[q + 1]
        ms[q] = ms[q + 1]
    hs[3] = n - 1


@jit
def _mc_held(x, big_g, bsz, bsh, emit, lp, yp, ri, si, hs, pq, npq):
    """Blocks predicted to be held at iteration ``x > big_g`` by the running requests
    predicted to run until ``x``."""
    me = si[Q_ME]
    mc = si[Q_MC]
    tot = 0
    q = hs[3] - 1
    while q >= 0 and me[q] >= x:
        tot += _blocks(mc[q] + x, bsz, bsh)
        q -= 1
    for q in range(npq):
        c, e = _mcsf_line(pq[q], big_g, emit, lp, yp, ri)
        if e >= x:
            tot += _blocks(c + x, bsz, bsh)
    return tot


@jit
def _mcsf_ok(i, big_g, bsz, bsh, cap, emit, lp, yp, ri, si, hs, pq, npq):
    """MC-SF's test (Jaillet et al., arXiv:2502.07115): with request ``i`` added to the
    running set, the KV blocks held at every predicted completion time up to ``i``'s
    own stay within ``cap`` (a request outliving its prediction is predicted to end
    now). O(batch): the decoders' held-at-end sums are kept by :func:`_mc_insert`.
    The caller has checked that ``i`` fits now."""
    me = si[Q_ME]
    mm = si[Q_MM]
    nl = hs[3]
    ci, ei = _mcsf_line(i, big_g, emit, lp, yp, ri)
    # now (iteration big_g) the running requests hold exactly ``blk`` blocks, so the
    # test there is the caller's ``blk + need <= cap``
    if ei == big_g:
        return True
    # predicted ends of decoders in (now, ei]
    for q in range(nl):
        x = me[q]
        if x > ei:
            break
        if x <= big_g:
            continue
        tot = mm[q] + _blocks(ci + x, bsz, bsh)
        for q2 in range(npq):
            c, e = _mcsf_line(pq[q2], big_g, emit, lp, yp, ri)
            if e >= x:
                tot += _blocks(c + x, bsz, bsh)
        if tot > cap:
            return False
    # predicted ends of requests in prefill, and i's own end
    for q in range(npq + 1):
        if q < npq:
            _c, x = _mcsf_line(pq[q], big_g, emit, lp, yp, ri)
            if x > ei or x <= big_g:
                continue
        else:
            x = ei
        tot = _blocks(ci + x, bsz, bsh) + _mc_held(x, big_g, bsz, bsh, emit, lp, yp, ri, si, hs,
                                               pq, npq)
        if tot > cap:
            return False
    return True
