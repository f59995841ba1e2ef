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

The kernel comes in specialisations chosen when a policy is compiled, each a
separate machine-code function (``make_*`` below; the flags are compile-time
constants, so a specialisation carries no code or test for what it does not use):

* ``mg1_rank``: ranks never rise with age: one job in service, held in registers
  (no group of tied jobs, no crossing events); the common fast path;
* ``mg1_rank_rise``: some rank rises with age (FB, SRPT-Bounce, tabulated Gittins):
  groups of tied jobs share the server;
* ``*_ovh``: the rank has *overhead* segments (server time that does not serve the
  job's size, :mod:`qtheory.rank`): a job's age counts all its service, its own work
  only the service outside overhead segments; it completes when its own work reaches
  its size (only outside overhead segments), and a job whose own work ends exactly at
  a segment boundary leaves there instead of entering the next (overhead) segment.

Every kernel keeps its state in arrays (see :mod:`.layout`) and may return before
the run ends (``GROW``: the pool of job rows is full; ``NEED_DATA``: the next chunk
of NumPy-sampled sizes is needed; ``SLICE``: the event budget of this call is
spent) and be called again to resume. Arrivals are drawn ``BLK`` at a time (a tight
loop of independent draws) into a small block; the draws depend only on the job
index, so the numbers do not depend on the blocking.

The GPU backend (:mod:`.gpu`) runs these very functions: every kernel and helper here
is written in the subset of Python that both Numba targets compile (no allocation, no
Python objects, no builtin ``min``/``max``) and is compiled a second time for CUDA by
:class:`qtheory.sim._jit.Retarget`, which rebinds the helpers a function calls to
their CUDA versions. Three helpers differ: :func:`_count` (an atomic add on the GPU,
where replications share a histogram), :func:`_record_batched` (the GPU adds into the batch
arrays directly, :func:`_record_direct`, rather than hold a batch in registers) and
:func:`_class_block` (the GPU draws the classes one job at a time,
:func:`_class_block_scalar`); the CPU's versions would add spills to the GPU kernels.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit, jit_inline
from ..rng import log_unit, stream_key, uniform
from ..sampling import (
    NOISE_EXACT,
    NOISE_EXP,
    SIZE_EXP,
    SIZE_HYPEREXP,
    draw_class,
    draw_noise,
    draw_size,
)
from .hist import bin_table
from .layout import (
    AGE,
    AREA,
    ARR,
    BLK,
    BR,
    BUF0,
    BUFN,
    C_BKEY,
    C_HU0,
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
    C_XCODE_A,
    C_XSTREAM_A,
    DONE,
    END,
    FREEN,
    GR,
    GRHO,
    GROW,
    HN,
    HSEQ,
    HSLOT,
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
    OVF,
    OWN,
    PG,
    PN,
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

__all__ = ["mg1_rank", "mg1_rank_ovh", "mg1_rank_rise", "mg1_rank_rise_ovh", "mg1_ps", "mg1_fb",
           "mg1_fcfs", "mg1_class", "mgk_rank", "mgk_rank_ovh", "make_mg1_flat",
           "make_mg1_rise", "make_mgk"]

_INF = np.inf


# ----------------------------------------------------------------------------- heap
@jit
def _hpush(hk, hi, n, r, q, s):
    """Insert slot ``s`` with rank ``r`` and arrival number ``q``; return the new size."""
    i = n
    while i > 0:
        p = (i - 1) >> 1
        rp = hk[p]
        if r < rp or (r == rp and q < hi[HSEQ, p]):
            hk[i] = rp
            hi[HSLOT, i] = hi[HSLOT, p]
            hi[HSEQ, i] = hi[HSEQ, p]
            i = p
        else:
            break
    hk[i] = r
    hi[HSLOT, i] = s
    hi[HSEQ, i] = q
    return n + 1


@jit
def _hpop(hk, hi, n):
    """Remove the top (read it first); return the new size."""
    n -= 1
    if n > 0:
        r = hk[n]
        s = hi[HSLOT, n]
        q = hi[HSEQ, n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            rc = hk[c]
            qc = hi[HSEQ, c]
            if c + 1 < n:
                # the better child without a branch (the comparison is a coin flip)
                r2 = hk[c + 1]
                q2 = hi[HSEQ, c + 1]
                right = (r2 < rc) | ((r2 == rc) & (q2 < qc))
                c += np.int64(right)
                rc = r2 if right else rc
                qc = q2 if right else qc
            if rc < r or (rc == r and qc < q):
                hk[i] = rc
                hi[HSLOT, i] = hi[HSLOT, c]
                hi[HSEQ, i] = qc
                i = c
            else:
                break
        hk[i] = r
        hi[HSLOT, i] = s
        hi[HSEQ, i] = q
    return n


@jit_inline
def _push_job(hk, hi, n, pf, pi, s):
    return _hpush(hk, hi, n, pf[s, RANK], pi[s, SEQ], s)


# ----------------------------------------------------------------------------- ranks
@jit
def _branch(rb, k):
    """The branch ``b`` with ``high[b-1] < k <= high[b]``: a branch-free count for a few
    branches (bucket ranks, priority classes), a binary search for many."""
    nb = rb.shape[0]
    if nb <= 16:
        b = 0
        for i in range(nb - 1):
            b += k > rb[i, 0]
        return b
    # the bisection of sampling.first_geq on column 0, written out: calling first_geq on
    # the view rb[:, 0] grew the kernels that LLVM inlines this into (FB ran 4% slower)
    a, b = 0, nb - 1
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


@jit_inline
def _seg_enter(pf, pi, rb, rs, s):
    """Move job ``s`` to the segment holding its age; set END, SLOPE, OVF; return its rank."""
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
    pi[s, OVF] = 1 if rs[j, 8] != 0.0 else 0
    return _seg_rank(pf, rs, s, j)


@jit
def _fresh(pf, pi, rb, s):
    """True when job ``s`` is at age 0 in a branch with an initial rank."""
    return pf[s, AGE] == 0.0 and rb[pi[s, BR], 3] != 0.0


@jit
def _wait_rank(pf, pi, rb, s, r, init):
    """The heap key of job ``s`` whose service rank is ``r``. ``init``: whether some branch
    has an initial rank (:func:`_flat_flags`); without one no job is fresh, and the
    kernels that know it skip the check."""
    if init and _fresh(pf, pi, rb, s):
        b = pi[s, BR]
        return rb[b, 4] * pf[s, K] + rb[b, 5]
    return r


@jit
def _serve_rank(pf, pi, rb, rs, s, init):
    """The rank of job ``s`` once it is in service (its segment rank, not the initial one);
    ``init`` as in :func:`_wait_rank`."""
    if init and _fresh(pf, pi, rb, s):
        return _seg_rank(pf, rs, s, pi[s, SEG])
    return pf[s, RANK]


@jit
def _rising(pf, pi, rb, s, init):
    """True when job ``s``'s rank rises once it is served; ``init`` as in :func:`_wait_rank`."""
    return pf[s, SLOPE] > 0.0 and not (init and _fresh(pf, pi, rb, s))


# ----------------------------------------------------------------------------- jobs
@jit
def _key(cfg_i, j):
    return stream_key(np.uint64(cfg_i[C_SEED]), np.uint64(cfg_i[C_REP]), np.uint64(j))


@jit_inline
def _class_block(ccum, k4, blk, i0):
    """The classes of arrivals ``i0 .. i0 + BLK - 1`` into ``blk[3]``: :func:`draw_class`
    without branches, the number of cumulative probabilities below ``u``, counted one
    threshold at a time so that each pass is a SIMD loop (``u`` drawn again per pass: a
    loop over the classes inside the loop over the jobs kept the draws scalar, 2.2 ns a
    job with two classes). The GPU compiles :func:`_class_block_scalar` in its place."""
    for j in range(BLK):
        blk[3, j] = 0.0
    for i in range(ccum.size - 1):
        thr = ccum[i]
        for j in range(BLK):
            blk[3, j] += 1.0 if uniform(k4, np.uint64(i0 + j)) > thr else 0.0


@jit_inline
def _class_block_scalar(ccum, k4, blk, i0):
    """:func:`_class_block` one job at a time, the same classes (on the GPU, where the
    passes doubled the spills of the kernels at 128 registers)."""
    nc1 = ccum.size - 1
    for j in range(BLK):
        u = uniform(k4, np.uint64(i0 + j))
        c = 0
        for i in range(nc1):
            c += u > ccum[i]
        blk[3, j] = float(c)


@jit
def _fill_block(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, i0):
    """Draw arrivals ``i0 .. i0 + BLK - 1``: ``log(u)/lambda`` and (in-kernel sampling)
    size, prediction and key, from the stream keys ``ks`` (:func:`_keys`). Each draw
    depends on the job index only; the common laws have inline loops (the same
    arithmetic as :func:`draw_size` and :func:`draw_noise`) that compile to SIMD code
    (:func:`~qtheory.sim.rng.log_unit` in place of libm's scalar ``log``)."""
    k0, k1, k2, k3, k4 = ks
    lam = cfg_f[C_LAM]
    for j in range(BLK):
        blk[0, j] = log_unit(uniform(k0, np.uint64(i0 + j))) / lam
    if cfg_i[C_MODE] == 1:
        return
    sc = cfg_i[C_SCODE]
    nc = cfg_i[C_NCODE]
    kk = cfg_i[C_KEY]
    if sc == SIZE_EXP:
        mean = sprm[0]
        for j in range(BLK):
            blk[1, j] = -mean * log_unit(uniform(k1, np.uint64(i0 + j)))
    else:
        for j in range(BLK):
            ui = np.uint64(i0 + j)
            u2 = uniform(k2, ui) if sc == SIZE_HYPEREXP else 0.5
            blk[1, j] = draw_size(sc, sprm, uniform(k1, ui), u2)
    bkk = cfg_i[C_BKEY]
    if nc == NOISE_EXACT:
        for j in range(BLK):
            blk[2, j] = blk[1, j]
    elif kk != 2 and bkk != 2 and cfg_i[C_RECORD] == 0:
        pass  # the policy does not read predictions and no record keeps them: not drawn
    elif nc == NOISE_EXP:
        for j in range(BLK):
            blk[2, j] = blk[1, j] * -log_unit(uniform(k3, np.uint64(i0 + j)))
    else:
        for j in range(BLK):
            blk[2, j] = blk[1, j] * draw_noise(nc, nprm, uniform(k3, np.uint64(i0 + j)))
    if kk == 1 or kk == 2:
        _copy_block_row(blk, 3, kk)  # the size (1) or the prediction (2)
    elif kk == 3:
        _class_block(ccum, k4, blk, i0)
    elif kk == 4:
        _extra_block(cfg_i, nprm, blk, 3, i0, 0)
    else:
        for j in range(BLK):
            blk[3, j] = 0.0
    if bkk == 1 or bkk == 2:
        _copy_block_row(blk, 4, bkk)  # the size (1) or the prediction (2)
    elif bkk == 4 and kk == 4:
        _copy_block_row(blk, 4, 3)  # the key's extra prediction A
    elif bkk == 4:
        _extra_block(cfg_i, nprm, blk, 4, i0, 0)
    elif bkk == 5:
        _extra_block(cfg_i, nprm, blk, 4, i0, 1)


@jit_inline
def _copy_block_row(blk, dst, src):
    """Row ``src`` of the block of arrivals into row ``dst``."""
    for j in range(BLK):
        blk[dst, j] = blk[src, j]


@jit_inline
def _extra_block(cfg_i, nprm, blk, row, i0, which):
    """Extra prediction A (``which`` 0) or B (1) of arrivals ``i0 .. i0 + BLK - 1`` into
    ``blk[row]``: ``x Z`` with Z drawn from its own stream (:data:`C_XSTREAM_A`), so a
    model's draws do not depend on which other predictions a policy reads."""
    code = cfg_i[C_XCODE_A + 2 * which]
    kx = _key(cfg_i, cfg_i[C_XSTREAM_A + 2 * which])
    prm = nprm[2 + 2 * which:4 + 2 * which]
    for j in range(BLK):
        blk[row, j] = blk[1, j] * draw_noise(code, prm, uniform(kx, np.uint64(i0 + j)))


@jit_inline
def _job(cfg_i, ccum, k4, bufx, bufy, buf0, blk, b0, idx):
    """(size, prediction, key, branch key) of arrival number ``idx`` (in the current
    block); the branch key is the key unless the policy's branches read another part of
    the job (:data:`C_BKEY`; in-kernel sampling only)."""
    if cfg_i[C_MODE] == 1:
        x = bufx[idx - buf0]
        y = bufy[idx - buf0]
        kk = cfg_i[C_KEY]
        if kk == 1:
            key = x
        elif kk == 2:
            key = y
        elif kk == 3:
            key = float(draw_class(ccum, uniform(k4, np.uint64(idx))))
        else:
            key = 0.0
        return x, y, key, key
    j = idx - b0
    return blk[1, j], blk[2, j], blk[3, j], (blk[3, j] if cfg_i[C_BKEY] == 0 else blk[4, j])


@jit_inline
def _first_segment(rb, rs, b):
    """What :func:`_init_row_at` needs of branch ``b``'s first segment: its end, value and
    start coefficients, slope, overhead flag, index and the branch's number of segments."""
    j = int(rb[b, 1])
    return (rs[j, 2], rs[j, 3], rs[j, 4], rs[j, 5], rs[j, 6], rs[j, 7], rs[j, 0],
            rs[j, 1], 1 if rs[j, 8] != 0.0 else 0, j, rb[b, 2])


@jit_inline
def _init_row_at(pf, pi, rb, rs, c, b, s, idx, t, x, y, key):
    """Write the row of a job of branch ``b`` arriving at ``t`` and return its segment
    rank (stored as its rank). ``c`` is the branch's first segment (:func:`_first_segment`);
    where that ends at age 0 and is not the last, :func:`_seg_enter` finds the segment
    that holds age 0."""
    e_c, e_k, v_c, v_k, v_t, sl, s_c, s_k, ovf, j, nseg = c
    _record_fields(pf, pi, s, idx, t, x, y)
    pf[s, K] = key
    pf[s, REM] = x
    pf[s, AGE] = 0.0
    pf[s, W] = 1.0
    pf[s, OWN] = 0.0
    pi[s, BR] = b
    pi[s, SEG] = j
    end = e_c * key + e_k
    pf[s, END] = end
    pf[s, SLOPE] = sl
    pi[s, OVF] = ovf
    if nseg != 1.0 and end <= 0.0:
        r = _seg_enter(pf, pi, rb, rs, s)
    elif v_k == -_INF:
        r = -_INF
    else:
        r = v_c * key + v_k + v_t * t + sl * (0.0 - (s_c * key + s_k))
    pf[s, RANK] = r
    return r


@jit_inline
def _init_row(pf, pi, rb, rs, s, idx, t, x, y, key, bkey):
    """Write the row of a job arriving at ``t`` and return the rank it waits with (its
    initial rank where its branch has one); ``bkey`` chooses the branch."""
    b = 0 if rb.shape[0] == 1 else _branch(rb, bkey)
    r = _init_row_at(pf, pi, rb, rs, _first_segment(rb, rs, b), b, s, idx, t, x, y, key)
    if rb[b, 3] != 0.0:
        r = rb[b, 4] * key + rb[b, 5]
        pf[s, RANK] = r
    return r


@jit_inline
def _one_segment(rb, rs):
    """``(one, c)``: whether there is one branch and it has no initial rank (SRPT, SPRPT,
    PSJF, PSPJF, TRAIL, ...), and that branch's first segment (:func:`_first_segment`),
    read once per kernel call so that a job's row is initialised from registers."""
    return rb.shape[0] == 1 and rb[0, 3] == 0.0, _first_segment(rb, rs, 0)


@jit_inline
def _record_fields(pf, pi, s, idx, t, x, y):
    """Write what :func:`_record` reads of arrival ``idx`` (time, size, prediction, number),
    all the row that the kernels without ranks need."""
    pf[s, ARR] = t
    pf[s, SIZE] = x
    pf[s, PRED] = y
    pi[s, SEQ] = idx


@jit_inline
def _count(hist, b):
    """Add one to bin ``b`` of the response-time histogram (on the GPU an atomic add:
    the replications there share a few histograms, see :mod:`.gpu`)."""
    hist[b] += 1


@jit_inline
def _measure(cfg_i, pf, pi, hist, htab, rec, s, t, sumt, sumt2, maxt, ndone):
    """What :func:`_record` does but the batches: ``(m, rt, sumt, sumt2, maxt, ndone)``,
    ``m`` the job's number among the measured jobs (-1 when not measured), ``rt`` its
    response time."""
    seq = pi[s, SEQ]
    warm = cfg_i[C_WARM]
    rt = t - pf[s, ARR]
    m = -1
    if seq >= warm and seq < warm + cfg_i[C_JOBS]:
        _count(hist, bin_table(rt, htab, cfg_i[C_HU0], cfg_i[C_NBINS]))
        m = seq - warm
        if cfg_i[C_RECORD] != 0:
            rec[m, 0] = pf[s, ARR]
            rec[m, 1] = pf[s, SIZE]
            rec[m, 2] = pf[s, PRED]
            rec[m, 3] = t
        sumt += rt
        sumt2 += rt * rt
        if rt > maxt:
            maxt = rt
        ndone += 1
    return m, rt, sumt, sumt2, maxt, ndone


@jit_inline
def _record(cfg_i, pf, pi, hist, htab, bsum, bcnt, rec, s, t, sumt, sumt2, maxt,
            ndone):
    """Record job ``s`` finishing at ``t`` (if measured) in the histogram, batches and
    records, and in the running sums; return the sums ``(sumt, sumt2, maxt, ndone)``."""
    m, rt, sumt, sumt2, maxt, ndone = _measure(cfg_i, pf, pi, hist, htab, rec, s, t, sumt,
                                               sumt2, maxt, ndone)
    if m >= 0:
        bb = (m * cfg_i[C_NBATCH]) // cfg_i[C_JOBS]
        bsum[bb] += rt
        bcnt[bb] += 1
    return sumt, sumt2, maxt, ndone


#: ``(batch, lo, hi, sum, count)`` of :func:`_record_batched` at the start of a call: none
NO_BATCH = (-1, 0, 0, 0.0, 0)


@jit_inline
def _batch_flush(bsum, bcnt, bat):
    """Write back the sum and count of the batch held by :func:`_record_batched`."""
    cb, lo, hi, cs, cc = bat
    if cb >= 0:
        bsum[cb] = cs
        bcnt[cb] = cc


@jit_inline
def _record_batched(cfg_i, pf, pi, hist, htab, bsum, bcnt, rec, s, t, sumt, sumt2, maxt,
                    ndone, bat):
    """:func:`_record` with the sum and count of one batch in registers: ``bat`` is
    ``(batch, lo, hi, sum, count)``, ``lo .. hi - 1`` the measured jobs of that batch
    (:data:`NO_BATCH`: none yet); a job of another batch writes them back and loads its
    own, and the kernel writes them back before it returns (:func:`_batch_flush`). Each
    batch gets the same additions in the same order as with :func:`_record`, without a
    division and a load and store of two arrays per job (2-2.5 ns a job on the CPU in the
    FCFS and class kernels, about 0.5 ns in the flat rank and PS kernels; the rising, FB
    and M/G/k kernels keep :func:`_record`, 1-5% slower with this one, five more values
    live across their loops); the GPU compiles :func:`_record_direct` in its place (no
    register more there). Returns ``(sumt, sumt2, maxt, ndone, bat)``."""
    m, rt, sumt, sumt2, maxt, ndone = _measure(cfg_i, pf, pi, hist, htab, rec, s, t, sumt,
                                               sumt2, maxt, ndone)
    cb, lo, hi, cs, cc = bat
    if m >= 0:
        if m < lo or m >= hi:
            _batch_flush(bsum, bcnt, bat)
            nb = cfg_i[C_NBATCH]
            jobs = cfg_i[C_JOBS]
            cb = (m * nb) // jobs  # batch cb holds the m with cb * jobs <= m * nb
            lo = (cb * jobs + nb - 1) // nb
            hi = ((cb + 1) * jobs + nb - 1) // nb
            cs = bsum[cb]
            cc = bcnt[cb]
        cs += rt
        cc += 1
    return sumt, sumt2, maxt, ndone, (cb, lo, hi, cs, cc)


@jit_inline
def _record_direct(cfg_i, pf, pi, hist, htab, bsum, bcnt, rec, s, t, sumt, sumt2, maxt,
                   ndone, bat):
    """:func:`_record_batched` on the GPU: :func:`_record`, ``bat`` left as it is."""
    sumt, sumt2, maxt, ndone = _record(cfg_i, pf, pi, hist, htab, bsum, bcnt, rec, s, t,
                                       sumt, sumt2, maxt, ndone)
    return sumt, sumt2, maxt, ndone, bat


# ----------------------------------------------------------------------------- run state
# The scalars every kernel keeps in local variables while it runs, loaded from and stored
# back to the state arrays (sf, si) at each call, and the arrival bookkeeping that every
# kernel does the same way.
@jit_inline
def _keys(cfg_i):
    """The keys of the replication's streams (interarrival, size, branch, noise, class)."""
    return (_key(cfg_i, 0), _key(cfg_i, 1), _key(cfg_i, 2), _key(cfg_i, 3), _key(cfg_i, 4))


@jit_inline
def _limits(cfg_i):
    """``(jobs, warm, endarr, maxarr, mode1)``: measured jobs, warm-up, the arrival that
    closes the Little's-law window, the number of arrivals, NumPy-sampled sizes."""
    jobs = cfg_i[C_JOBS]
    warm = cfg_i[C_WARM]
    return jobs, warm, warm + jobs, cfg_i[C_MAXARR], cfg_i[C_MODE] == 1


@jit_inline
def _load(sf, si):
    """``(t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
    maxt)`` from the state arrays."""
    return (sf[T], sf[NEXT], si[NARR], si[NSYS], si[HN], si[FREEN], si[NDONE], si[INWIN],
            si[MAXSYS], sf[AREA], sf[SUMT], sf[SUMT2], sf[MAXT])


@jit_inline
def _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area,
           sumt, sumt2, maxt):
    """Write back what :func:`_load` read, and count the call's events."""
    sf[T] = t
    sf[NEXT] = next_t
    si[NARR] = n_arr
    si[NSYS] = n_sys
    si[HN] = hn
    si[FREEN] = freen
    si[NDONE] = ndone
    si[INWIN] = inwin
    si[MAXSYS] = maxsys
    sf[AREA] = area
    sf[SUMT] = sumt
    sf[SUMT2] = sumt2
    sf[MAXT] = maxt
    si[NEVENTS] += events


@jit_inline
def _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t):
    """``(b0, next_t)`` at the start of a call: the block holds arrivals ``b0 .. b0 +
    BLK - 1`` (none yet when resuming); the first call draws the first block and
    schedules arrival 0."""
    if si[STARTED] == 0:
        _fill_block(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, 0)
        si[STARTED] = 1
        return 0, (0.0 - blk[0, 0] if cfg_i[C_MAXARR] > 0 else _INF)
    return -2 * BLK, next_t


@jit_inline
def _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx, bufy, sf, si, blk, b0, idx, t, warm,
            endarr, inwin):
    """Arrival number ``idx`` at time ``t``: open (at ``warm``) or close (at ``endarr``)
    the Little's-law window, and draw the job; return ``(b0, inwin, x, y, key, bkey)``."""
    if idx == warm:  # the Little's-law window opens at the first measured arrival
        inwin = 1
        sf[TWS] = t
    if idx == endarr:  # and closes at the arrival after the last one
        inwin = 0
        sf[TWE] = t
    if idx < b0 or idx >= b0 + BLK:
        _fill_block(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, idx)
        b0 = idx
    x, y, key, bkey = _job(cfg_i, ccum, ks[4], bufx, bufy, si[BUF0], blk, b0, idx)
    return b0, inwin, x, y, key, bkey


@jit_inline
def _schedule(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, b0, n_arr, maxarr, t):
    """``(b0, next_t)``: the time of arrival number ``n_arr`` (``inf`` past the last),
    the previous one being at ``t``."""
    if n_arr >= maxarr:
        return b0, _INF
    if n_arr >= b0 + BLK:
        _fill_block(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, n_arr)
        b0 = n_arr
    return b0, t - blk[0, n_arr - b0]


@jit_inline
def _no_room(mode1, idx, si, room):
    """Why arrival ``idx`` cannot be processed now (``NEED_DATA``: its NumPy-sampled size
    is in the next chunk; ``GROW``: no ``room`` left in the pool of job rows), else
    ``DONE``; the kernel then returns with the event unprocessed."""
    if mode1 and idx >= si[BUF0] + si[BUFN]:
        return NEED_DATA
    if room == 0:
        return GROW
    return DONE


@jit_inline
def _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, b0, n_arr, n_sys, maxsys, maxarr, t):
    """Count an arrival at ``t`` in the system and schedule the next one; return
    ``(n_arr, n_sys, maxsys, b0, next_t)``."""
    n_sys += 1
    if n_sys > maxsys:
        maxsys = n_sys
    n_arr += 1
    b0, next_t = _schedule(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, b0, n_arr, maxarr, t)
    return n_arr, n_sys, maxsys, b0, next_t


@jit
def _done_own(pf, s):
    """True when job ``s`` has received all of its own work (kernels with overhead)."""
    return pf[s, OWN] >= pf[s, SIZE]


@jit
def _flat_flags(rb, rs):
    """``(init, lazy)`` of a compiled rank, read once per kernel call: whether some branch
    has an initial rank, and whether some branch's last segment (after at least one
    other) has rank ``-inf`` (:func:`_event_end`). Without them a job starting service
    needs neither check (fewer dependent loads on the common path)."""
    init = False
    lazy = False
    for b in range(rb.shape[0]):
        if rb[b, 3] != 0.0:
            init = True
        if rb[b, 2] > 1.0 and rs[int(rb[b, 1] + rb[b, 2]) - 1, 5] == -_INF:
            lazy = True
    return init, lazy


@jit
def _event_end(pf, pi, rb, rs, s):
    """The age at which job ``s`` in service needs a segment event: its segment's end,
    except when the next segment is its branch's last and has rank ``-inf``: entering it
    changes nothing that the next arrival (which then finds the job unpreemptable) does
    not see, so the flat kernel enters it lazily (TRAIL, limited preemption)."""
    b = pi[s, BR]
    last = int(rb[b, 1] + rb[b, 2]) - 1
    if pi[s, SEG] + 1 == last and rs[last, 5] == -_INF:
        return _INF
    return pf[s, END]


# ----------------------------------------------------------------------------- M/G/1 rank
def make_mg1_flat(OVH):  # noqa: N803 - a compile-time constant
    """The M/G/1 kernel for ranks that never rise with age (one job in service).

    The served job's remaining work (``OVH``: own work done), age, segment end, slope
    and rank live in local variables; its row is written back only when it leaves the
    server. A waiting job's rank does not change, so the heap holds it inline.
    """

    @jit
    def kernel(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
               hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
        ks = _keys(cfg_i)
        (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
         maxt) = _load(sf, si)
        R = sf[GR]
        rho = sf[GRHO]
        jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
        b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
        init, lazy = _flat_flags(rb, rs)
        one, seg1 = _one_segment(rb, rs)
        cur = grp[0] if si[NG] > 0 else -1
        c_rem = 0.0
        c_age = 0.0
        c_end = _INF
        c_slope = 0.0
        c_ovh = False
        c_own = 0.0
        c_x = 0.0
        c_ev = _INF  # the age of the served job's next segment event (c_end or, lazy, inf)
        if cur >= 0:
            c_rem = pf[cur, REM]
            c_age = pf[cur, AGE]
            c_end = pf[cur, END]
            c_ev = _event_end(pf, pi, rb, rs, cur) if lazy and not OVH else c_end
            c_slope = pf[cur, SLOPE]
            c_ovh = pi[cur, OVF] != 0
            c_own = pf[cur, OWN]
            c_x = pf[cur, SIZE]
        bat = NO_BATCH
        events = 0
        status = DONE
        while True:
            events += 1
            if events > max_events:
                status = SLICE
                events -= 1  # not processed
                break
            ev = 0
            if cur >= 0:
                if OVH:
                    dt_ev = _INF if c_ovh else c_x - c_own
                else:
                    dt_ev = c_rem
                ev = 1
                d = c_ev - c_age
                if d < dt_ev:
                    dt_ev = d
                    ev = 2
            else:
                dt_ev = _INF
            dt_arr = next_t - t
            if next_t < _INF and dt_arr <= dt_ev:
                # ------------------------------------------------------------ arrival
                idx = n_arr
                stop = _no_room(mode1, idx, si, freen)
                if stop != DONE:
                    status = stop
                    events -= 1  # not processed
                    break
                if cur >= 0:
                    c_age += dt_arr
                    if OVH:
                        if not c_ovh:
                            c_own += dt_arr
                    else:
                        c_rem -= dt_arr
                        if c_age > c_end and c_ev == _INF:
                            # the lazy segment end has passed: rank -inf from there on
                            pf[cur, AGE] = c_age
                            R = _seg_enter(pf, pi, rb, rs, cur)
                            pf[cur, RANK] = R
                            c_end = pf[cur, END]
                            c_slope = pf[cur, SLOPE]
                            rho = 0.0
                if R > -_INF:
                    R += rho * dt_arr
                if inwin != 0:
                    area += n_sys * dt_arr
                t = next_t
                b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx,
                                                     bufy, sf, si, blk, b0, idx, t, warm,
                                                     endarr, inwin)
                freen -= 1
                s = free[freen]
                if one:
                    r0 = _init_row_at(pf, pi, rb, rs, seg1, 0, s, idx, t, x, y, key)
                else:
                    r0 = _init_row(pf, pi, rb, rs, s, idx, t, x, y, key, bkey)
                n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                          b0, n_arr, n_sys, maxsys, maxarr, t)
                start = -1
                if cur < 0:
                    start = s  # the server was idle (so the heap is empty)
                elif r0 < R:
                    # preempted: the served job waits with its service rank
                    pf[cur, AGE] = c_age
                    if OVH:
                        pf[cur, OWN] = c_own
                    else:
                        pf[cur, REM] = c_rem
                    wr = _wait_rank(pf, pi, rb, cur, R, init)
                    pf[cur, RANK] = wr
                    hn = _hpush(hk, hi, hn, wr, pi[cur, SEQ], cur)
                    if hk[0] < r0 or (hk[0] == r0 and hi[HSEQ, 0] < idx):
                        hn = _hpush(hk, hi, hn, r0, idx, s)
                        start = hi[HSLOT, 0]
                        hn = _hpop(hk, hi, hn)
                    else:
                        start = s
                else:
                    hn = _hpush(hk, hi, hn, r0, idx, s)
                if start >= 0:
                    cur = start
                    c_rem = pf[cur, REM]
                    c_age = pf[cur, AGE]
                    c_end = pf[cur, END]
                    c_ev = _event_end(pf, pi, rb, rs, cur) if lazy and not OVH else c_end
                    c_slope = pf[cur, SLOPE]
                    c_ovh = pi[cur, OVF] != 0
                    c_own = pf[cur, OWN]
                    c_x = pf[cur, SIZE]
                    R = _serve_rank(pf, pi, rb, rs, cur, init)
                    rho = c_slope if R > -_INF else 0.0
                if ndone >= jobs and n_arr > endarr:
                    status = DONE
                    break
                continue
            if cur < 0:
                status = DONE
                break
            # ---------------------------------------------------------------- service event
            c_age += dt_ev
            if OVH:
                if not c_ovh:
                    c_own += dt_ev
            else:
                c_rem -= dt_ev
            if R > -_INF:
                R += rho * dt_ev
            if inwin != 0:
                area += n_sys * dt_ev
            t += dt_ev
            start = -1
            if ev == 2:
                pf[cur, AGE] = c_end
                if OVH:
                    pf[cur, OWN] = c_own
                else:
                    pf[cur, REM] = c_rem
                rn = _seg_enter(pf, pi, rb, rs, cur)
                if OVH and pi[cur, OVF] != 0 and c_own >= c_x:
                    ev = 1  # its own work ended at the boundary: it leaves
                else:
                    pf[cur, RANK] = rn
                    q = pi[cur, SEQ]
                    if hn > 0 and (hk[0] < rn or (hk[0] == rn and hi[HSEQ, 0] < q)):
                        hn = _hpush(hk, hi, hn, rn, q, cur)
                        start = hi[HSLOT, 0]
                        hn = _hpop(hk, hi, hn)
                    elif OVH:
                        # it goes on: the registers that the segment changed (what a
                        # reload of its row would read; its work and size are unchanged)
                        c_age = c_end
                        c_end = pf[cur, END]
                        c_ev = c_end
                        c_slope = pf[cur, SLOPE]
                        c_ovh = pi[cur, OVF] != 0
                        R = _serve_rank(pf, pi, rb, rs, cur, init)
                        rho = c_slope if R > -_INF else 0.0
                    else:
                        start = cur
            if ev == 1:
                sumt, sumt2, maxt, ndone, bat = _record_batched(
                    cfg_i, pf, pi, hist, htab, bsum, bcnt, rec, cur, t, sumt, sumt2, maxt, ndone,
                    bat)
                n_sys -= 1
                free[freen] = cur
                freen += 1
                if hn > 0:
                    start = hi[HSLOT, 0]
                    hn = _hpop(hk, hi, hn)
                else:
                    cur = -1
                    R = 0.0
                    rho = 0.0
                    c_end = _INF
                    c_ev = _INF
            if start >= 0:
                cur = start
                c_rem = pf[cur, REM]
                c_age = pf[cur, AGE]
                c_end = pf[cur, END]
                c_ev = _event_end(pf, pi, rb, rs, cur) if lazy and not OVH else c_end
                c_slope = pf[cur, SLOPE]
                c_ovh = pi[cur, OVF] != 0
                c_own = pf[cur, OWN]
                c_x = pf[cur, SIZE]
                R = _serve_rank(pf, pi, rb, rs, cur, init)
                rho = c_slope if R > -_INF else 0.0
            if ev == 1 and ndone >= jobs and n_arr > endarr:
                status = DONE
                break
        if cur >= 0:
            pf[cur, AGE] = c_age
            pf[cur, REM] = c_rem
            pf[cur, OWN] = c_own
            grp[0] = cur
        sf[GR] = R
        sf[GRHO] = rho
        si[NG] = 1 if cur >= 0 else 0
        _batch_flush(bsum, bcnt, bat)
        _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
               area, sumt, sumt2, maxt)
        return status

    return kernel


@jit_inline
def _park_top(pf, park, ng):
    """Rank of the top parked group (``inf`` when none)."""
    if ng == 0:
        return _INF
    return pf[park[0, park[1, ng - 1]], RANK]


@jit_inline
def _park(pf, park, npk, ng, grp, g, r):
    """Park the ``g`` jobs of a rising group in service, all at rank ``r``, as one group
    on the stack of parked groups (joining the top group when it has the same rank);
    return the new (members, groups) counts.

    Only a group in service whose rank is at most every waiting rank is parked, so the
    parked ranks increase strictly from the top of the stack down: the top is the least.
    """
    for i in range(g):
        s = grp[i]
        pf[s, RANK] = r
        park[0, npk + i] = s
    if ng > 0 and pf[park[0, park[1, ng - 1]], RANK] == r:
        park[2, ng - 1] += g
    else:
        park[1, ng] = npk
        park[2, ng] = g
        ng += 1
    return npk + g, ng


@jit_inline
def _serve_fixed(pf, pi, rb, rs, grp, s, init):
    """Serve job ``s``, whose rank does not rise, alone: its service rank and the rate of
    change of the rank in service, ``(R, rho)``."""
    grp[0] = s
    pf[s, W] = 1.0
    R = _serve_rank(pf, pi, rb, rs, s, init)
    return R, (pf[s, SLOPE] if R > -_INF else 0.0)


@jit_inline
def _take(pf, pi, rb, rs, hk, hi, hn, grp, park, npk, ng, init):
    """Give the server to the best waiting job(s); return (hn, npk, ng, g, R, rho).

    The waiting jobs are in the heap and in the parked groups. Of the jobs tied at the
    lowest rank, the earliest whose rank does not rise is served alone; if all tied
    jobs' ranks rise, they share the server at rates that keep their ranks equal.
    ``init``: whether some branch has an initial rank (:func:`_flat_flags`); without,
    no job is fresh and its service rank is its rank.
    """
    pr = _park_top(pf, park, ng)
    if hn == 0 and ng == 0:
        return hn, npk, ng, 0, 0.0, 0.0
    g = 0
    if hn > 0 and hk[0] < pr:
        r = hk[0]
        s = hi[HSLOT, 0]
        if not _rising(pf, pi, rb, s, init):
            hn = _hpop(hk, hi, hn)
            R, rho = _serve_fixed(pf, pi, rb, rs, grp, s, init)
            return hn, npk, ng, 1, R, rho
    else:
        r = pr
        st = park[1, ng - 1]
        cnt = park[2, ng - 1]
        for i in range(cnt):
            grp[i] = park[0, st + i]
        g = cnt
        npk = st
        ng -= 1
    while hn > 0 and hk[0] == r:
        grp[g] = hi[HSLOT, 0]
        hn = _hpop(hk, hi, hn)
        g += 1
    best = -1
    for i in range(g):
        q = grp[i]
        if not _rising(pf, pi, rb, q, init) and (best < 0 or pi[q, SEQ] < pi[grp[best], SEQ]):
            best = i
    if best >= 0:
        q = grp[best]
        for j in range(g):
            if j != best:
                hn = _push_job(hk, hi, hn, pf, pi, grp[j])
        R, rho = _serve_fixed(pf, pi, rb, rs, grp, q, init)
        return hn, npk, ng, 1, R, rho
    if g == 1:
        s = grp[0]
        pf[s, W] = 1.0
        return hn, npk, ng, 1, r, pf[s, SLOPE]
    inv = 0.0
    for i in range(g):
        inv += 1.0 / pf[grp[i], SLOPE]
    rho = 1.0 / inv
    for i in range(g):
        pf[grp[i], W] = rho / pf[grp[i], SLOPE]
    return hn, npk, ng, g, r, rho


@jit_inline
def _requeue(pf, pi, rb, hk, hi, hn, grp, g, r, init):
    """Put the jobs in service back into the heap with service rank ``r``."""
    for i in range(g):
        s = grp[i]
        pf[s, RANK] = _wait_rank(pf, pi, rb, s, r, init)
        hn = _push_job(hk, hi, hn, pf, pi, s)
    return hn


@jit_inline
def _solo(pf, pi, m):
    """``(age, rem, own, end, size, ovh)`` of job ``m``: what the rising kernel keeps in
    registers while ``m`` is served alone."""
    return pf[m, AGE], pf[m, REM], pf[m, OWN], pf[m, END], pf[m, SIZE], pi[m, OVF] != 0


@jit_inline
def _solo_back(pf, m, age, rem, own):
    """Write back the registers of :func:`_solo` that service changes."""
    pf[m, AGE] = age
    pf[m, REM] = rem
    pf[m, OWN] = own


@jit_inline
def _serve_new(pf, pi, rb, rs, grp, s, r, init):
    """Serve job ``s`` of rank ``r`` alone, ``s`` being strictly ahead of every waiting
    job (what :func:`_take` does after pushing it); return ``(R, rho)``."""
    if _rising(pf, pi, rb, s, init):
        grp[0] = s
        pf[s, W] = 1.0
        return r, pf[s, SLOPE]
    return _serve_fixed(pf, pi, rb, rs, grp, s, init)


def make_mg1_rise(OVH):  # noqa: N803 - a compile-time constant
    """The M/G/1 kernel for ranks that may rise with age (groups of tied jobs share).

    A rising group preempted by an arrival (or requeued after an event) is parked whole
    on a stack of groups instead of entering the heap job by job; the waiting jobs are
    the heap and the parked groups, and a take considers the tops of both. A job served
    alone (``g == 1``, share 1) keeps its age, remaining (or own) work and segment end in
    registers (``c_*``), written back to its row before anything else reads the row; an
    arrival that preempts and is strictly ahead of every waiting job is served at once
    (no heap round trip).
    """

    @jit
    def kernel(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
               hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
        ks = _keys(cfg_i)
        (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
         maxt) = _load(sf, si)
        R = sf[GR]
        rho = sf[GRHO]
        g = si[NG]
        npk = si[PN]  # parked jobs
        ng = si[PG]  # parked groups
        jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
        b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
        init, lazy = _flat_flags(rb, rs)
        one, seg1 = _one_segment(rb, rs)
        c_age, c_rem, c_own, c_end, c_x, c_ovh = 0.0, 0.0, 0.0, _INF, 0.0, False
        if g == 1:
            c_age, c_rem, c_own, c_end, c_x, c_ovh = _solo(pf, pi, grp[0])
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
            take = False
            if g == 1:
                if OVH:
                    d = _INF if c_ovh else c_x - c_own
                else:
                    d = c_rem
                if d < dt_ev:
                    dt_ev = d
                    ev = 1
                    evm = 0
                d = c_end - c_age
                if d < dt_ev:
                    dt_ev = d
                    ev = 2
                    evm = 0
            else:
                for gi in range(g):
                    m = grp[gi]
                    w = pf[m, W]
                    if OVH:
                        d = _INF if pi[m, OVF] != 0 else (pf[m, SIZE] - pf[m, OWN]) / w
                    else:
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
            if rho > 0.0 and (hn > 0 or ng > 0):
                top = _park_top(pf, park, ng)
                if hn > 0 and hk[0] < top:
                    top = hk[0]
                d = (top - R) / rho
                if d < 0.0:
                    d = 0.0
                if d < dt_ev:
                    dt_ev = d
                    ev = 3
            dt_arr = next_t - t
            is_arr = next_t < _INF and dt_arr <= dt_ev
            if is_arr:
                stop = _no_room(mode1, n_arr, si, freen)
                if stop != DONE:
                    status = stop
                    events -= 1  # not processed
                    break
                dt = dt_arr
            else:
                if g == 0:
                    status = DONE
                    break
                dt = dt_ev
            if g == 1:  # share 1: the same arithmetic as the loop below (1.0 * dt == dt)
                c_age += dt
                if OVH:
                    if not c_ovh:
                        c_own += dt
                else:
                    c_rem -= dt
            else:
                for gi in range(g):
                    m = grp[gi]
                    d = pf[m, W] * dt
                    pf[m, AGE] += d
                    if OVH:
                        if pi[m, OVF] == 0:
                            pf[m, OWN] += d
                    else:
                        pf[m, REM] -= d
            if R > -_INF:
                R += rho * dt
            if inwin != 0:
                area += n_sys * dt
            if is_arr:
                # ------------------------------------------------------------ arrival
                idx = n_arr
                t = next_t
                b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx,
                                                     bufy, sf, si, blk, b0, idx, t, warm,
                                                     endarr, inwin)
                freen -= 1
                s = free[freen]
                if one:
                    r0 = _init_row_at(pf, pi, rb, rs, seg1, 0, s, idx, t, x, y, key)
                else:
                    r0 = _init_row(pf, pi, rb, rs, s, idx, t, x, y, key, bkey)
                n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                          b0, n_arr, n_sys, maxsys, maxarr, t)
                if g == 0:
                    hn = _push_job(hk, hi, hn, pf, pi, s)
                    take = True
                elif r0 < R:
                    if g == 1:
                        _solo_back(pf, grp[0], c_age, c_rem, c_own)
                    if rho > 0.0:  # a rising group: parked as a whole
                        npk, ng = _park(pf, park, npk, ng, grp, g, R)
                    else:
                        hn = _requeue(pf, pi, rb, hk, hi, hn, grp, g, R, init)
                    if (hn == 0 or r0 < hk[0]) and r0 < _park_top(pf, park, ng):
                        g = 1
                        R, rho = _serve_new(pf, pi, rb, rs, grp, s, r0, init)
                        c_age, c_rem, c_own, c_end, c_x, c_ovh = _solo(pf, pi, s)
                    else:
                        hn = _push_job(hk, hi, hn, pf, pi, s)
                        take = True
                else:
                    hn = _push_job(hk, hi, hn, pf, pi, s)
            else:
                # ------------------------------------------------------------ service event
                t += dt_ev
                if g == 1 and ev != 1:
                    _solo_back(pf, grp[0], c_age, c_rem, c_own)
                if ev == 2:
                    m = grp[evm]
                    pf[m, AGE] = pf[m, END]
                    rn = _seg_enter(pf, pi, rb, rs, m)
                    if OVH and pi[m, OVF] != 0 and _done_own(pf, m):
                        ev = 1  # its own work ended at the boundary: it leaves
                    elif g == 1 and rn < _park_top(pf, park, ng) and (
                            hn == 0 or rn < hk[0] or (rn == hk[0] and pf[m, SLOPE] <= 0.0
                                                       and pi[m, SEQ] < hi[HSEQ, 0])):
                        # alone in service and still ahead of every waiting job: it goes on
                        # (what requeue-and-take would decide, without the heap round trip)
                        pf[m, RANK] = rn
                        pf[m, W] = 1.0
                        R = rn
                        rho = pf[m, SLOPE] if rn > -_INF else 0.0
                        c_age, c_rem, c_own, c_end, c_x, c_ovh = _solo(pf, pi, m)
                    else:
                        grp[evm] = grp[g - 1]
                        if rho > 0.0 and g > 1:
                            npk, ng = _park(pf, park, npk, ng, grp, g - 1, R)
                        else:
                            hn = _requeue(pf, pi, rb, hk, hi, hn, grp, g - 1, R, init)
                        pf[m, RANK] = rn
                        hn = _push_job(hk, hi, hn, pf, pi, m)
                        take = True
                if ev == 1:
                    m = grp[evm]
                    sumt, sumt2, maxt, ndone = _record(cfg_i, pf, pi, hist, htab, bsum, bcnt,
                                                       rec, m, t, sumt, sumt2, maxt, ndone)
                    n_sys -= 1
                    free[freen] = m
                    freen += 1
                    g -= 1
                    grp[evm] = grp[g]
                    if g > 0:
                        if rho > 0.0:
                            npk, ng = _park(pf, park, npk, ng, grp, g, R)
                        else:
                            hn = _requeue(pf, pi, rb, hk, hi, hn, grp, g, R, init)
                    take = True
                elif ev == 3:
                    top = _park_top(pf, park, ng)
                    R = hk[0] if (hn > 0 and hk[0] < top) else top
                    npk, ng = _park(pf, park, npk, ng, grp, g, R)
                    take = True
            if take:
                hn, npk, ng, g, R, rho = _take(pf, pi, rb, rs, hk, hi, hn, grp, park, npk, ng,
                                               init)
                if g == 1:
                    c_age, c_rem, c_own, c_end, c_x, c_ovh = _solo(pf, pi, grp[0])
            if ndone >= jobs and n_arr > endarr:
                status = DONE
                break
        if g == 1:
            _solo_back(pf, grp[0], c_age, c_rem, c_own)
        sf[GR] = R
        sf[GRHO] = rho
        si[NG] = g
        si[PN] = npk
        si[PG] = ng
        _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
               area, sumt, sumt2, maxt)
        return status

    return kernel


# ----------------------------------------------------------------------------- M/G/1 PS
@jit
def mg1_ps(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
           hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
    """Run (or resume) one replication of M/G/1 processor sharing.

    Virtual time ``V`` is the service each job in system has received since time 0
    (it grows at rate ``1/n``); a job of size ``x`` arriving at virtual time ``v``
    leaves when ``V`` reaches ``v + x``: the heap holds these finish tags.
    """
    ks = _keys(cfg_i)
    (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
     maxt) = _load(sf, si)
    V = sf[VT]
    jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
    b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
    bat = NO_BATCH
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = (hk[0] - V) * n_sys if hn > 0 else _INF
        if dt_ev < 0.0:
            dt_ev = 0.0
        dt_arr = next_t - t
        if next_t < _INF and dt_arr <= dt_ev:
            idx = n_arr
            stop = _no_room(mode1, idx, si, freen)
            if stop != DONE:
                status = stop
                events -= 1  # not processed
                break
            if n_sys > 0:
                V += dt_arr / n_sys
            if inwin != 0:
                area += n_sys * dt_arr
            t = next_t
            b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx, bufy, sf,
                                           si, blk, b0, idx, t, warm, endarr, inwin)
            freen -= 1
            s = free[freen]
            _record_fields(pf, pi, s, idx, t, x, y)
            hn = _hpush(hk, hi, hn, V + x, idx, s)
            n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                      b0, n_arr, n_sys, maxsys, maxarr, t)
            if ndone >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if hn == 0:
            status = DONE
            break
        s = hi[HSLOT, 0]
        V = hk[0]
        hn = _hpop(hk, hi, hn)
        if inwin != 0:
            area += n_sys * dt_ev
        t += dt_ev
        sumt, sumt2, maxt, ndone, bat = _record_batched(cfg_i, pf, pi, hist, htab, bsum,
                                                        bcnt, rec, s, t, sumt, sumt2,
                                                        maxt, ndone, bat)
        n_sys -= 1
        free[freen] = s
        freen += 1
        if n_sys == 0:
            V = 0.0  # restart virtual time in each busy period (keeps tags small)
        if ndone >= jobs and n_arr > endarr:
            status = DONE
            break
    sf[VT] = V
    _batch_flush(bsum, bcnt, bat)
    _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
           area, sumt, sumt2, maxt)
    return status


# ----------------------------------------------------------------------------- M/G/1 FCFS
@jit
def _copy_row(pf, pi, i, j):
    """Copy job row ``i`` to row ``j``."""
    for c in range(pf.shape[1]):
        pf[j, c] = pf[i, c]
    for c in range(pi.shape[1]):
        pi[j, c] = pi[i, c]


@jit
def mg1_fcfs(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
             hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
    """Run (or resume) one replication of M/G/1 FCFS.

    The jobs in system are a FIFO queue in the rows of the pool, used as a ring (head
    ``si[PN]``, laid out for ``si[PG]`` rows: when the pool has grown since, the part
    that wrapped around moves behind the old end). A job's departure time is known when
    it arrives (Lindley's recursion: it starts when it arrives or when the job ahead
    leaves), so there is no heap and no rank. Departures and arrivals are still
    processed in time order (an arrival first on a tie), which keeps the Little's-law
    area, the maximum number in system and the stopping rule of the other kernels; the
    generic rank kernel runs the same policy (constant rank, ties FIFO) and tests check
    that they agree.
    """
    ks = _keys(cfg_i)
    (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
     maxt) = _load(sf, si)
    cap = pf.shape[0]
    head = si[PN]
    old = si[PG]
    if 0 < old < cap:  # the pool grew (rows 0 .. old-1 kept): unwrap the ring
        for i in range(head + n_sys - old):
            _copy_row(pf, pi, i, old + i)
    jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
    b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
    # the head's departure and the last arrival's (Lindley's recursion), in registers
    dep = _INF
    last_end = t
    if n_sys > 0:
        dep = pf[head, END]
        tail = head + n_sys - 1
        last_end = pf[tail - cap if tail >= cap else tail, END]
    bat = NO_BATCH
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        if next_t < _INF and next_t <= dep:
            idx = n_arr
            stop = _no_room(mode1, idx, si, cap - n_sys)
            if stop != DONE:
                status = stop
                events -= 1  # not processed
                break
            if inwin != 0:
                area += n_sys * (next_t - t)
            t = next_t
            b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx, bufy, sf,
                                           si, blk, b0, idx, t, warm, endarr, inwin)
            s = head + n_sys
            if s >= cap:
                s -= cap
            start = t
            if n_sys > 0 and last_end > t:
                start = last_end
            last_end = start + x
            if n_sys == 0:
                dep = last_end
            _record_fields(pf, pi, s, idx, t, x, y)
            pf[s, END] = last_end
            n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                      b0, n_arr, n_sys, maxsys, maxarr, t)
            if ndone >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if n_sys == 0:
            status = DONE
            break
        if inwin != 0:
            area += n_sys * (dep - t)
        t = dep
        sumt, sumt2, maxt, ndone, bat = _record_batched(cfg_i, pf, pi, hist, htab, bsum,
                                                        bcnt, rec, head, t, sumt, sumt2,
                                                        maxt, ndone, bat)
        n_sys -= 1
        head += 1
        if head == cap:
            head = 0
        dep = pf[head, END] if n_sys > 0 else _INF
        if ndone >= jobs and n_arr > endarr:
            status = DONE
            break
    _batch_flush(bsum, bcnt, bat)
    si[PN] = head
    si[PG] = cap
    _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
           area, sumt, sumt2, maxt)
    return status


# ----------------------------------------------------------------------------- M/G/1 FB
@jit
def _fb_min(pf, park, lo, hi):
    """The index ``i`` in ``lo .. hi - 1`` of the smallest job ``park[0, i]`` (the first
    of equals)."""
    best = lo
    bx = pf[park[0, lo], SIZE]
    for i in range(lo + 1, hi):
        x = pf[park[0, i], SIZE]
        if x < bx:
            best = i
            bx = x
    return best


@jit
def mg1_fb(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
           hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
    """Run (or resume) one replication of M/G/1 FB (least attained service).

    The jobs with the least age share the server, and an arrival (age 0) preempts
    them, so the jobs in system form a stack of groups of equal age, the least age on
    top: ``park[0]`` holds the jobs, group ``i`` from ``park[1, i]`` to the next group's
    start, ``hk[i]`` its age and ``grp[i]`` the index in ``park[0]`` of its smallest job.
    The top group's age grows at rate ``1/g``; it merges into the next group when the
    ages meet, and its smallest job leaves when the age reaches its size. The top group
    (start, size, age, smallest job and its size) and the next group's age live in local
    variables, written back when another group comes on top. Every event costs O(1) but
    a departure, which scans the top group for its new smallest job (no heap, no per-job
    ages). The generic rising-rank kernel (``mg1_rank_rise``) runs the same policy; tests
    check that they agree.
    """
    ks = _keys(cfg_i)
    (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
     maxt) = _load(sf, si)
    npk = si[PN]  # jobs on the stack
    ng = si[PG]  # groups
    jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
    b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
    # the top group: first job's index st, size g, age a, smallest job at index pmin, of
    # size xmin; anext: the next group's age (inf without one)
    st = 0
    g = 0
    a = 0.0
    pmin = -1
    xmin = _INF
    anext = _INF
    if ng > 0:
        st = park[1, ng - 1]
        g = npk - st
        a = hk[ng - 1]
        pmin = grp[ng - 1]
        xmin = pf[park[0, pmin], SIZE]
        anext = hk[ng - 2] if ng > 1 else _INF
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = _INF
        merge = False
        if g > 0:
            dt_ev = (xmin - a) * g
            if dt_ev < 0.0:
                dt_ev = 0.0
            d = (anext - a) * g
            if d < dt_ev:
                dt_ev = d
                merge = True
        dt_arr = next_t - t
        if next_t < _INF and dt_arr <= dt_ev:
            idx = n_arr
            stop = _no_room(mode1, idx, si, freen)
            if stop != DONE:
                status = stop
                events -= 1  # not processed
                break
            if g > 0:
                a += dt_arr * (1.0 / g)
            if inwin != 0:
                area += n_sys * dt_arr
            t = next_t
            b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx, bufy, sf,
                                           si, blk, b0, idx, t, warm, endarr, inwin)
            freen -= 1
            s = free[freen]
            _record_fields(pf, pi, s, idx, t, x, y)
            park[0, npk] = s
            npk += 1
            if g > 0 and a == 0.0:  # ties with the served group: it shares
                g += 1
                if x < xmin:
                    pmin = npk - 1
                    xmin = x
            else:
                if g > 0:  # the old top group waits: write it back
                    hk[ng - 1] = a
                    grp[ng - 1] = pmin
                    anext = a
                st = npk - 1
                park[1, ng] = st
                ng += 1
                g = 1
                a = 0.0
                pmin = st
                xmin = x
            n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                      b0, n_arr, n_sys, maxsys, maxarr, t)
            if ndone >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if g == 0:
            status = DONE
            break
        if inwin != 0:
            area += n_sys * dt_ev
        t += dt_ev
        if merge:  # the top group reaches the next one's age: one group
            ng -= 1
            st = park[1, ng - 1]
            g = npk - st
            a = anext
            pn = grp[ng - 1]
            xn = pf[park[0, pn], SIZE]
            if xn <= xmin:
                pmin = pn
                xmin = xn
            anext = hk[ng - 2] if ng > 1 else _INF
            continue
        a += dt_ev * (1.0 / g)
        s = park[0, pmin]
        sumt, sumt2, maxt, ndone = _record(cfg_i, pf, pi, hist, htab, bsum, bcnt,
                                           rec, s, t, sumt, sumt2, maxt, ndone)
        n_sys -= 1
        free[freen] = s
        freen += 1
        # remove s from the top group (the last job takes its place) and find the new least
        npk -= 1
        park[0, pmin] = park[0, npk]
        g -= 1
        if g > 0:
            pmin = _fb_min(pf, park, st, npk)
            xmin = pf[park[0, pmin], SIZE]
        else:
            ng -= 1
            if ng > 0:  # the next group comes on top
                st = park[1, ng - 1]
                g = npk - st
                a = hk[ng - 1]
                pmin = grp[ng - 1]
                xmin = pf[park[0, pmin], SIZE]
                anext = hk[ng - 2] if ng > 1 else _INF
            else:
                pmin = -1
                xmin = _INF
                anext = _INF
        if ndone >= jobs and n_arr > endarr:
            status = DONE
            break
    if g > 0:
        hk[ng - 1] = a
        grp[ng - 1] = pmin
    si[PN] = npk
    si[PG] = ng
    _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
           area, sumt, sumt2, maxt)
    return status


# ----------------------------------------------------------------------------- M/G/1 classes
@jit_inline
def _class_best(pf, pi, hi, nb):
    """The branch whose queue head has the least (rank, arrival number); -1 if all empty."""
    best = -1
    br = _INF
    bq = 0
    for b in range(nb):
        h = hi[0, b]
        if h >= 0:
            r = pf[h, RANK]
            q = pi[h, SEQ]
            if best < 0 or r < br or (r == br and q < bq):
                best = b
                br = r
                bq = q
    return best


@jit
def mg1_class(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
              hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
    """Run (or resume) one replication of an M/G/1 policy whose rank is a constant per
    branch (priority classes, advice buckets, one-bit advice with FIFO classes),
    preemptive or not, or in a preemptive policy ``v_b + c_b * arrival time`` (one-bit
    advice, newest short first: ``c_b = -1``).

    The jobs of a branch are served in arrival order (newest first where ``c_b < 0``), so
    each branch keeps a queue (a linked list through the job rows, ``pi[s, SEG]``, with
    head and tail in ``hi[0, b]`` and ``hi[1, b]``) instead of a heap: an arrival joins
    the back (the front where ``c_b < 0``); the next job is the queue head with the least
    (rank, arrival number), found by a scan of the few branches. A preempted job returns
    to the front of its queue (it arrived before the others there, or after them where
    ``c_b < 0``). Initial ranks (non-preemptive policies) become ``-inf`` in service. The
    generic rank kernel runs the same policies; tests check that they agree.
    """
    ks = _keys(cfg_i)
    (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
     maxt) = _load(sf, si)
    nb = rb.shape[0]
    npre = rb[0, 3] != 0.0  # non-preemptive: an initial rank, -inf in service
    jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
    if si[STARTED] == 0:
        for b in range(nb):
            hi[0, b] = -1
            hi[1, b] = -1
    b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
    cur = grp[0] if si[NG] > 0 else -1
    R = sf[GR]
    c_rem = pf[cur, REM] if cur >= 0 else 0.0
    bat = NO_BATCH
    events = 0
    status = DONE
    while True:
        events += 1
        if events > max_events:
            status = SLICE
            events -= 1  # not processed
            break
        dt_ev = c_rem if cur >= 0 else _INF
        dt_arr = next_t - t
        if next_t < _INF and dt_arr <= dt_ev:
            idx = n_arr
            stop = _no_room(mode1, idx, si, freen)
            if stop != DONE:
                status = stop
                events -= 1  # not processed
                break
            if cur >= 0:
                c_rem -= dt_arr
            if inwin != 0:
                area += n_sys * dt_arr
            t = next_t
            b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx, bufy, sf,
                                           si, blk, b0, idx, t, warm, endarr, inwin)
            freen -= 1
            s = free[freen]
            b = 0 if nb == 1 else _branch(rb, bkey)
            if npre:  # the initial rank; the driver admits no vt here (vt = 0: FIFO classes)
                vt = 0.0
                r0 = rb[b, 5]
            else:  # rank v + vt * arrival time: newest first if vt < 0
                j = int(rb[b, 1])
                vt = rs[j, 6]
                r0 = rs[j, 5] + vt * t
            pf[s, REM] = x  # (the key is not kept: the branch and rank say all)
            _record_fields(pf, pi, s, idx, t, x, y)
            pf[s, RANK] = r0
            pi[s, BR] = b
            n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                      b0, n_arr, n_sys, maxsys, maxarr, t)
            if cur >= 0 and r0 < R:  # preempted: back to the front of its queue
                pf[cur, REM] = c_rem
                cb = pi[cur, BR]
                pi[cur, SEG] = hi[0, cb]
                hi[0, cb] = cur
                if hi[1, cb] < 0:
                    hi[1, cb] = cur
                cur = -1
            if cur < 0:
                # an idle server (empty queues), or a preemption: the served job had the
                # least rank in system and this one's is lower still
                cur = s
                c_rem = x
                R = -_INF if npre else r0
            elif vt < 0.0:  # the newest of its branch: the front
                pi[s, SEG] = hi[0, b]
                hi[0, b] = s
                if hi[1, b] < 0:
                    hi[1, b] = s
            else:
                pi[s, SEG] = -1
                if hi[1, b] >= 0:
                    pi[hi[1, b], SEG] = s
                else:
                    hi[0, b] = s
                hi[1, b] = s
            if ndone >= jobs and n_arr > endarr:
                status = DONE
                break
            continue
        if cur < 0:
            status = DONE
            break
        if inwin != 0:
            area += n_sys * dt_ev
        t += dt_ev
        sumt, sumt2, maxt, ndone, bat = _record_batched(cfg_i, pf, pi, hist, htab, bsum,
                                                        bcnt, rec, cur, t, sumt, sumt2,
                                                        maxt, ndone, bat)
        n_sys -= 1
        free[freen] = cur
        freen += 1
        b = _class_best(pf, pi, hi, nb)
        if b >= 0:
            cur = hi[0, b]
            hi[0, b] = pi[cur, SEG]
            if hi[0, b] < 0:
                hi[1, b] = -1
            c_rem = pf[cur, REM]
            R = -_INF if npre else pf[cur, RANK]
        else:
            cur = -1
            R = 0.0
        if ndone >= jobs and n_arr > endarr:
            status = DONE
            break
    _batch_flush(bsum, bcnt, bat)
    if cur >= 0:
        pf[cur, REM] = c_rem
        grp[0] = cur
    si[NG] = 1 if cur >= 0 else 0
    sf[GR] = R
    _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
           area, sumt, sumt2, maxt)
    return status


# ----------------------------------------------------------------------------- M/G/k rank
@jit
def _worst(pf, pi, grp, g):
    """Index in ``grp`` of the served job with the highest (rank, arrival number)."""
    wi = 0
    for i in range(1, g):
        a = grp[wi]
        b = grp[i]
        ra = pf[a, RANK]
        rb_ = pf[b, RANK]
        if ra < rb_ or (ra == rb_ and pi[a, SEQ] < pi[b, SEQ]):
            wi = i
    return wi


@jit
def _start_service(pf, pi, rb, rs, s):
    pf[s, RANK] = _serve_rank(pf, pi, rb, rs, s, True)


def make_mgk(OVH):  # noqa: N803 - a compile-time constant
    """The M/G/k kernel (central queue, ranks that do not rise with age)."""

    @jit
    def kernel(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
               hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, max_events):
        """Run (or resume) one replication of an M/G/k rank policy (central queue).

        ``k = cfg_i[C_SERVERS]`` servers of speed ``1/k`` serve the ``k`` jobs of lowest
        rank; ranks must not rise with age (no FB-like policies). While served, a job's
        row holds its current rank, updated at every event.
        """
        ks = _keys(cfg_i)
        (t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys, area, sumt, sumt2,
         maxt) = _load(sf, si)
        kserv = cfg_i[C_SERVERS]
        speed = 1.0 / kserv
        g = si[NG]
        jobs, warm, endarr, maxarr, mode1 = _limits(cfg_i)
        b0, next_t = _start(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk, si, next_t)
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
                if OVH:
                    d = _INF if pi[m, OVF] != 0 else (pf[m, SIZE] - pf[m, OWN]) * kserv
                else:
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
                stop = _no_room(mode1, n_arr, si, freen)
                if stop != DONE:
                    status = stop
                    events -= 1  # not processed
                    break
            elif g == 0:
                status = DONE
                break
            d = dt * speed
            for gi in range(g):
                m = grp[gi]
                pf[m, AGE] += d
                if OVH:
                    if pi[m, OVF] == 0:
                        pf[m, OWN] += d
                else:
                    pf[m, REM] -= d
                if pf[m, RANK] > -_INF:
                    pf[m, RANK] += pf[m, SLOPE] * d
            if inwin != 0:
                area += n_sys * dt
            t += dt
            if is_arr:
                t = next_t
                idx = n_arr
                b0, inwin, x, y, key, bkey = _arrive(cfg_f, cfg_i, sprm, nprm, ccum, ks, bufx,
                                                     bufy, sf, si, blk, b0, idx, t, warm,
                                                     endarr, inwin)
                freen -= 1
                s = free[freen]
                r0 = _init_row(pf, pi, rb, rs, s, idx, t, x, y, key, bkey)
                n_arr, n_sys, maxsys, b0, next_t = _admit(cfg_f, cfg_i, sprm, nprm, ccum, ks, blk,
                                                          b0, n_arr, n_sys, maxsys, maxarr, t)
                if g < kserv:
                    grp[g] = s
                    g += 1
                    _start_service(pf, pi, rb, rs, s)
                else:
                    wi = _worst(pf, pi, grp, g)
                    q = grp[wi]
                    if r0 < pf[q, RANK]:
                        pf[q, RANK] = _wait_rank(pf, pi, rb, q, pf[q, RANK], True)
                        hn = _push_job(hk, hi, hn, pf, pi, q)
                        grp[wi] = s
                        _start_service(pf, pi, rb, rs, s)
                    else:
                        hn = _push_job(hk, hi, hn, pf, pi, s)
                if ndone >= jobs and n_arr > endarr:
                    status = DONE
                    break
                continue
            m = grp[evm]
            if ev == 2:
                pf[m, AGE] = pf[m, END]
                pf[m, RANK] = _seg_enter(pf, pi, rb, rs, m)
                if OVH and pi[m, OVF] != 0 and _done_own(pf, m):
                    ev = 1  # its own work ended at the boundary: it leaves
                else:
                    # a rank that jumped up may now lose to a waiting job (ties: the
                    # earlier arrival first, as in the M/G/1 kernels)
                    while hn > 0:
                        wi = _worst(pf, pi, grp, g)
                        q = grp[wi]
                        rq = pf[q, RANK]
                        if hk[0] < rq or (hk[0] == rq and hi[HSEQ, 0] < pi[q, SEQ]):
                            s = hi[HSLOT, 0]
                            hn = _hpop(hk, hi, hn)
                            hn = _push_job(hk, hi, hn, pf, pi, q)
                            grp[wi] = s
                            _start_service(pf, pi, rb, rs, s)
                        else:
                            break
            if ev == 1:
                sumt, sumt2, maxt, ndone = _record(cfg_i, pf, pi, hist, htab, bsum, bcnt,
                                                   rec, m, t, sumt, sumt2, maxt, ndone)
                n_sys -= 1
                free[freen] = m
                freen += 1
                g -= 1
                grp[evm] = grp[g]
                if hn > 0:
                    s = hi[HSLOT, 0]
                    hn = _hpop(hk, hi, hn)
                    grp[g] = s
                    g += 1
                    _start_service(pf, pi, rb, rs, s)
                if ndone >= jobs and n_arr > endarr:
                    status = DONE
                    break
        si[NG] = g
        _store(sf, si, events, t, next_t, n_arr, n_sys, hn, freen, ndone, inwin, maxsys,
               area, sumt, sumt2, maxt)
        return status

    return kernel


mg1_rank = make_mg1_flat(False)
mg1_rank_ovh = make_mg1_flat(True)
mg1_rank_rise = make_mg1_rise(False)
mg1_rank_rise_ovh = make_mg1_rise(True)
mgk_rank = make_mgk(False)
mgk_rank_ovh = make_mgk(True)

