"""Row and slot numbers of the arrays that carry a kernel's state between calls.

A kernel keeps all of its state in arrays (a pool of job rows, a heap, a free-slot
stack, a few scalars), so a run can stop and resume: to grow the pool, to take the
next chunk of NumPy-sampled sizes, or to report progress.

The job pool holds one row per job slot: ``pf[slot, COLUMN]`` (float64, 88 bytes)
and ``pi[slot, COLUMN]`` (int64), so the fields of a job share one or two cache
lines. (A structure of arrays was measured slower: its power-of-two row strides
make stores and loads of one job alias in the L1 cache.) The heap of waiting jobs
keeps its keys inline: ``hk[i]`` is the rank of heap entry ``i`` and ``hi[HSLOT, i]``,
``hi[HSEQ, i]`` its slot and arrival number, so a comparison reads no job row.
"""

__all__ = [
    "K", "REM", "AGE", "RANK", "ARR", "SIZE", "PRED", "W", "END", "SLOPE", "OWN", "NPF",
    "SEQ", "SEG", "BR", "OVF", "NPI", "HSLOT", "HSEQ",
    "T", "NEXT", "GR", "GRHO", "AREA", "TWS", "TWE", "SUMT", "SUMT2", "MAXT", "VT", "NSF",
    "NARR", "NSYS", "NG", "HN", "NDONE", "FREEN", "INWIN", "STARTED", "BUF0", "BUFN",
    "NEVENTS", "MAXSYS", "PN", "PG", "NSI",
    "C_LAM", "C_HLO", "C_HSCALE", "NCF",
    "C_SEED", "C_REP", "C_SCODE", "C_NCODE", "C_KEY", "C_MODE", "C_WARM", "C_JOBS",
    "C_MAXARR", "C_RECORD", "C_NBATCH", "C_NBINS", "C_SERVERS", "C_HU0", "C_BKEY",
    "C_XCODE_A", "C_XSTREAM_A", "C_XCODE_B", "C_XSTREAM_B", "NCI",
    "BLK", "NBLK", "NPARK",
    "DONE", "NEED_DATA", "GROW", "SLICE",
]

# pool columns, float: key, remaining own work, age (all service received), rank, arrival
# time, size, prediction, share of the server, end of the current segment (in age), its
# slope, own work done (kernels with overhead segments)
K, REM, AGE, RANK, ARR, SIZE, PRED, W, END, SLOPE, OWN = range(11)
NPF = 11
# pool columns, int: arrival number, current segment, branch, current segment is overhead
SEQ, SEG, BR, OVF = range(4)
NPI = 4
# heap rows (int)
HSLOT, HSEQ = range(2)
# float scalars
T, NEXT, GR, GRHO, AREA, TWS, TWE, SUMT, SUMT2, MAXT, VT = range(11)
NSF = 12
# int scalars
(NARR, NSYS, NG, HN, NDONE, FREEN, INWIN, STARTED, BUF0, BUFN, NEVENTS, MAXSYS, PN,
 PG) = range(14)
NSI = 14
# float configuration
C_LAM, C_HLO, C_HSCALE = range(3)
NCF = 3
# int configuration; C_BKEY: what chooses a job's branch when not its key (0: the key;
# 1: the size; 2: prediction 0; 4, 5: the extra predictions A, B), C_XCODE_*: the noise
# codes of the extra predictions (their parameters at nprm[2:4] and nprm[4:6]) and
# C_XSTREAM_*: their random streams (8 + the model's index)
(C_SEED, C_REP, C_SCODE, C_NCODE, C_KEY, C_MODE, C_WARM, C_JOBS, C_MAXARR, C_RECORD,
 C_NBATCH, C_NBINS, C_SERVERS, C_HU0, C_BKEY, C_XCODE_A, C_XSTREAM_A, C_XCODE_B,
 C_XSTREAM_B) = range(19)
NCI = 19
# parked groups of the rising-rank kernel: park[0] their jobs (a stack), park[1] and
# park[2] the first job and the size of each group
NPARK = 3
# block of pre-drawn arrivals: rows log(u)/lambda, size, prediction, key, branch key (when
# not the key); BLK columns
BLK = 64
NBLK = 5
# return codes
DONE, NEED_DATA, GROW, SLICE = range(4)
