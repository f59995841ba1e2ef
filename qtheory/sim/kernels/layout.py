"""Column and slot numbers of the arrays that carry a kernel's state between calls.

A kernel keeps all of its state in arrays (a pool of job rows, a heap of slot
numbers, a free-slot stack, a few scalars), so a run can stop and resume: to grow
the pool, to take the next chunk of NumPy-sampled sizes, or to report progress.
"""

__all__ = [
    "K", "REM", "AGE", "RANK", "ARR", "SIZE", "PRED", "W", "END", "SLOPE", "NPF",
    "SEQ", "SEG", "BR", "NPI",
    "T", "NEXT", "GR", "GRHO", "AREA", "TWS", "TWE", "SUMT", "SUMT2", "MAXT", "VT", "NSF",
    "NARR", "NSYS", "NG", "HN", "NDONE", "FREEN", "INWIN", "STARTED", "BUF0", "BUFN",
    "NEVENTS", "MAXSYS", "NSI",
    "C_LAM", "C_HLO", "C_HSCALE", "NCF",
    "C_SEED", "C_REP", "C_SCODE", "C_NCODE", "C_KEY", "C_MODE", "C_WARM", "C_JOBS",
    "C_MAXARR", "C_RECORD", "C_NBATCH", "C_NBINS", "C_SERVERS", "NCI",
    "DONE", "NEED_DATA", "GROW", "SLICE",
]

# pool rows, float columns
K, REM, AGE, RANK, ARR, SIZE, PRED, W, END, SLOPE = range(10)
NPF = 10
# pool rows, int columns
SEQ, SEG, BR = range(3)
NPI = 3
# float scalars
T, NEXT, GR, GRHO, AREA, TWS, TWE, SUMT, SUMT2, MAXT, VT = range(11)
NSF = 12
# int scalars
NARR, NSYS, NG, HN, NDONE, FREEN, INWIN, STARTED, BUF0, BUFN, NEVENTS, MAXSYS = range(12)
NSI = 12
# float configuration
C_LAM, C_HLO, C_HSCALE = range(3)
NCF = 3
# int configuration
(C_SEED, C_REP, C_SCODE, C_NCODE, C_KEY, C_MODE, C_WARM, C_JOBS, C_MAXARR, C_RECORD,
 C_NBATCH, C_NBINS, C_SERVERS) = range(13)
NCI = 13
# return codes
DONE, NEED_DATA, GROW, SLICE = range(4)
