"""A straightforward pure-Python reference of the LLM serving model (one iteration at a
time, lists instead of heaps) for job-for-job checks of qtheory.llm.simulate.

Covers FCFS, SJF, SPJF, SPRPT (with refinement), TRAIL, MC-SF (its admission test
written out by its definition, O(batch**2) per test), WAIT (cohorts of thresholds[j] new
requests, opened per type), Nested WAIT (requests pause with their KV at each stage
boundary; cohorts opened per stage), ALISE (a request preempted by priority keeps its KV,
paused, when the displacing request's predicted remaining work is at most the threshold,
else it is offloaded) and skip-join MLFQ (levels from the kernel's ``mlfq_level``; under
restart a request keeps its level); recompute, swap, restart and keep; chunked prefill;
both token accountings. Rules: docs/llm_simulation.md.
"""

from __future__ import annotations

import math

from qtheory.llm.sim import kernel as K


def reference(prep, server):
    cfg_i = prep["cfg_i"]
    arr, lp, lo, yp = prep["arr"], prep["lp"], prep["lo"], prep["yp"]
    sprm, nprm, nkey = prep["sprm"], prep["nprm"], prep["nkey"]
    aux = prep["aux"].copy()  # MLFQ under restart updates a request's level
    pol = int(cfg_i[K.CI_POL])
    ncode = int(cfg_i[K.CI_NCODE])
    n = arr.size
    B = server.block_size
    cap = server.kv_blocks if server.kv_blocks is not None else 1 << 60
    budget = server.token_budget if server.token_budget is not None else 1 << 60
    maxb = min(server.max_batch, budget)
    emit = 1 if server.prefill_emits_token else 0
    chunked = server.chunked_prefill
    mode = server.preemption
    bw = server.swap_bandwidth
    victim_newest = sprm[0] == 0
    preemptive = pol in (K.SPRPT, K.TRAIL, K.ALISE, K.MLFQ)
    keep_thr = sprm[3]  # ALISE

    def blocks(h):
        return -(-h // B)

    def rank(i, g):
        return K.rank_of(pol, sprm, nkey, ncode, nprm, i, g, lo[i], yp[i], aux[i])

    def tau(bt, kv, bs):
        return server.time_of(bt, kv, bs)

    g = [0] * n
    state = ["future"] * n      # wait, prefill, decode, swapped, done
    pf = [0] * n
    first = [math.nan] * n
    done = [math.nan] * n
    waiting = []                # ids
    running = []                # ids in admission order
    t = 0.0
    na = 0
    ndone = 0
    maxblk = 0
    npre = [0] * n
    log = []
    times = []
    reference.times = times

    def need_of(i):
        if state[i] == "decode":
            return blocks(lp[i] + g[i] + 1)
        return blocks(lp[i] + g[i] + emit)

    def held_tokens(i):
        return lp[i] + g[i] + 1

    def mcsf_line(i):
        # tokens held at the next iteration, and the last iteration (counted from the
        # next one) at which i is predicted to run
        rem = max(math.ceil(yp[i]) - g[i], 1)
        if state[i] == "decode":
            return lp[i] + g[i] + 1, rem - 1
        return lp[i] + g[i] + emit, rem - 1 + (1 - emit)

    def mcsf_ok(w):
        # Jaillet et al.: memory at every predicted completion up to w's own, with w
        lines = [mcsf_line(i) for i in running] + [mcsf_line(w)]
        end_w = lines[-1][1]
        for x in {e for _c, e in lines if e <= end_w}:
            if sum(blocks(c + x) for c, e in lines if e >= x) > cap:
                return False
        return True

    n_types = int(sprm[1]) if pol == K.WAIT else 0
    nested = pol == K.WAIT and sprm[7] != 0
    stage_bounds = [int(sprm[5 + k]) for k in range(n_types - 1)]
    quota = [0, 0, 0]             # WAIT: gated requests of each class left to admit
    fresh = [True] * n            # never admitted (WAIT gates these and paused ones)
    paused = []                   # Nested WAIT, in the kernel's array order

    def stage(i):
        return sum(1 for b in stage_bounds if g[i] >= b)

    def wclass(i):
        return stage(i) if nested else int(aux[i])

    def gated(i):
        return pol == K.WAIT and (state[i] == "wait" and fresh[i] or state[i] == "paused")

    def count(ty):
        return sum(1 for i in waiting if gated(i) and wclass(i) == ty)

    def drop_paused(q):
        # a paused request loses its KV: offloaded (ALISE with a swap bandwidth) or
        # dropped, to be recomputed; under Nested WAIT it is readmitted first-come
        # first-served
        nonlocal sw
        v = paused[q]
        paused[q] = paused[-1]
        paused.pop()
        if pol == K.ALISE and bw is not None:
            state[v] = "swapped"
            sw += (lp[v] + g[v]) / bw
        else:
            state[v] = "wait"
        if nested:
            npre[v] += 1
            ty = stage(v)
            quota[ty] = min(quota[ty], count(ty))

    def restart(v):
        # v loses its generated tokens; under MLFQ it keeps its level
        if pol == K.MLFQ:
            aux[v] = K.mlfq_level(sprm, aux[v], g[v])[0]
        g[v] = 0

    def paused_victim():
        # newest, or lowest priority (rank when paused, then newest)
        return max(range(len(paused)), key=lambda q: (
            paused[q] if victim_newest else rank(paused[q], g[paused[q]]), paused[q]))

    while ndone < n:
        while na < n and arr[na] <= t:
            state[na] = "wait"
            waiting.append(na)
            na += 1
        if not running and not waiting:
            t = arr[na]
            continue
        sw = 0.0
        evicted = False
        while sum(need_of(i) for i in running) + sum(blocks(lp[i] + g[i])
                                                     for i in paused) > cap:
            evicted = True
            if paused:
                drop_paused(paused_victim())
                continue
            if victim_newest:
                v = max(running)
            else:
                v = max(running, key=lambda i: (rank(i, g[i]), i))
            running.remove(v)
            npre[v] += 1
            log.append((t, v, g[v], state[v]))
            if state[v] == "decode":
                if mode == "swap":
                    state[v] = "swapped"
                    sw += (lp[v] + g[v]) / bw
                elif mode == "restart":
                    restart(v)
                    state[v] = "wait"
                else:
                    state[v] = "wait"
            else:
                pf[v] = 0
                if mode == "restart":
                    restart(v)
                state[v] = "wait"
            waiting.append(v)
        ndec = sum(1 for i in running if state[i] == "decode")
        left = budget - ndec
        for i in running:
            if state[i] == "prefill":
                rem = lp[i] + g[i] - pf[i]
                left -= min(rem, left)
        if not evicted:
            if pol == K.WAIT:
                counts = [count(j) for j in range(3)]
                th = [int(sprm[2 + j]) if j < n_types else 0 for j in range(3)]
                for j in range(n_types):
                    if quota[j] == 0:
                        quota[j] = th[j] if counts[j] >= th[j] else (
                            counts[j] if na >= n else 0)
            aside = []
            while waiting:
                w = min(waiting, key=lambda i: (rank(i, g[i]), i))
                if gated(w):
                    if sum(quota) == 0:
                        break
                    if quota[wclass(w)] == 0:
                        waiting.remove(w)
                        aside.append(w)
                        continue
                if state[w] == "wait":
                    p = lp[w] + g[w]
                    nb = blocks(p + emit)
                    nt = p if (not chunked and p <= budget) else 1
                elif state[w] == "paused":
                    nb = blocks(lp[w] + g[w] + 1) - blocks(lp[w] + g[w])
                    nt = 1
                else:
                    nb = blocks(lp[w] + g[w] + 1)
                    nt = 1
                used = sum(need_of(i) for i in running) + sum(blocks(lp[i] + g[i])
                                                              for i in paused)
                fit = len(running) < maxb and left >= nt and used + nb <= cap
                if fit and pol == K.MCSF and running:
                    fit = mcsf_ok(w)
                if fit:
                    waiting.remove(w)
                    running.append(w)
                    if gated(w):
                        quota[wclass(w)] -= 1
                    fresh[w] = False
                    if state[w] == "paused":
                        q = paused.index(w)
                        paused[q] = paused[-1]
                        paused.pop()
                        state[w] = "decode"
                        left -= 1
                    elif state[w] == "wait":
                        state[w] = "prefill"
                        pf[w] = 0
                        left -= min(p, left)
                    else:
                        sw += (lp[w] + g[w]) / bw
                        state[w] = "decode"
                        left -= 1
                    continue
                if not preemptive:
                    break
                cands = [i for i in running if state[i] == "decode"
                         and rank(i, g[i]) > K.NEG_RANK]
                if not cands:
                    break
                v = max(cands, key=lambda i: (rank(i, g[i]), i))
                if not rank(w, g[w]) < rank(v, g[v]):
                    break
                fit_mem = used + nb <= cap
                if (not fit_mem and len(running) < maxb and left >= nt
                        and (mode == "keep" or pol == K.ALISE) and pol != K.ALISE):
                    break  # pausing a request frees no memory
                running.remove(v)
                npre[v] += 1
                left += 1
                pm = mode
                if pol == K.ALISE:
                    # keep the KV if the displacing request's predicted remaining work
                    # is short, else offload it (or drop it: recompute)
                    if rank(w, g[w]) <= keep_thr and fit_mem:
                        pm = "keep"
                    else:
                        pm = "swap" if bw is not None else "recompute"
                if pm == "keep":
                    state[v] = "paused"
                    paused.append(v)
                elif pm == "swap":
                    state[v] = "swapped"
                    sw += (lp[v] + g[v]) / bw
                elif pm == "restart":
                    restart(v)
                    state[v] = "wait"
                else:
                    state[v] = "wait"
                waiting.append(v)
            waiting.extend(aside)
        if not running:
            if na >= n and paused:
                drop_paused(0)
                continue
            t = max(t, arr[na])
            continue
        # execute one iteration
        ndec = sum(1 for i in running if state[i] == "decode")
        lft = budget - ndec
        bt = ndec
        kv = 0
        chunks = {}
        for i in running:
            if state[i] == "decode":
                kv += held_tokens(i)
        for i in running:
            if state[i] == "prefill":
                rem = lp[i] + g[i] - pf[i]
                c = min(rem, lft)
                lft -= c
                bt += c
                chunks[i] = c
                kv += pf[i] + c + (emit if pf[i] + c == lp[i] + g[i] else 0)
        maxblk = max(maxblk, sum(need_of(i) for i in running)
                     + sum(blocks(lp[i] + g[i]) for i in paused))
        t += tau(bt, kv, len(running)) + sw
        times.append((t, bt, kv, tuple(running), tuple(state[i][0] for i in running)))
        for i in list(running):
            if state[i] == "decode":
                g[i] += 1
                if math.isnan(first[i]):
                    first[i] = t
                if g[i] >= lo[i]:
                    done[i] = t
                    state[i] = "done"
                    running.remove(i)
                    ndone += 1
                elif nested and g[i] in stage_bounds:
                    state[i] = "paused"
                    running.remove(i)
                    paused.append(i)
                    waiting.append(i)
            else:
                pf[i] += chunks[i]
                if pf[i] == lp[i] + g[i]:
                    state[i] = "decode"
                    if emit:
                        g[i] += 1
                        if math.isnan(first[i]):
                            first[i] = t
                        if g[i] >= lo[i]:
                            done[i] = t
                            state[i] = "done"
                            running.remove(i)
                            ndone += 1
    reference.npre = npre
    reference.log = log
    return first, done, maxblk
