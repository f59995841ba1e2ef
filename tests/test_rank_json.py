"""Rank functions as JSON data (RankFunction.to_dict / from_dict), rank files
(RankPolicy.from_file, the spec ``Rank:file=PATH``) and the command line's use of them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qtheory as qt
from qtheory.cli import main
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies
SIZE = qt.Exponential(mean=1.0)
PRED = qt.UniformPrediction(alpha=0.5)

# every policy of the catalogue that has a rank function of its own (with its parameters)
CATALOGUE = [
    P.FCFS(), P.SRPT(), P.PSJF(), P.SJF(), P.FB(), P.SPRPT(), P.PSPJF(), P.SPJF(),
    P.TRAIL(c=0.5), P.SRPTBounce(), P.OneBit(threshold=1.0),
    P.Buckets(thresholds=(0.5, 2.0)),
    P.Buckets(thresholds=(0.5, 2.0), preemptive=True),
    P.OneBit(threshold=1.0, preemptive=True, within="fifo"),
    P.SkipPredict(threshold=1.0, cheap_cost=0.05, expensive_cost=0.1),
    P.SkipPredict(threshold=1.0, cheap_cost=0.05, expensive_cost=0.1, cost_model="server"),
    P.DelayPredict(limit=1.0, expensive_cost=0.1, cost_model="server"),
    P.Gittins(), P.GittinsBuckets(thresholds=(1.0,)),
]


def _through_json(rank: RankFunction) -> RankFunction:
    text = json.dumps(rank.to_dict(), allow_nan=False)  # strict JSON
    return RankFunction.from_dict(json.loads(text))


@pytest.mark.parametrize("pol", CATALOGUE, ids=lambda p: p.name)
def test_catalogue_ranks_round_trip(pol):
    rank = pol.rank_function(SIZE, PRED)
    assert rank is not None
    back = _through_json(rank)
    assert back == rank
    # and it ranks alike (the same values at keys, ages on both sides of every end)
    k = np.array([0.3, 1.0, 2.5])[:, None]
    a = np.array([0.0, 0.1, 0.4, 1.0, 3.0])[None, :]
    assert np.array_equal(back.evaluate(k, a), rank.evaluate(k, a))


def test_two_part_descriptor_round_trips():
    short = Branch((Segment(value=(0.0, -np.inf)),), high=2.0)
    long_ = Branch((Segment(value=(1.0, 0.0), slope=-1),), low=2.0)
    rank = RankFunction("prediction:0", (short, long_), branch_key="prediction:1")
    data = rank.to_dict()
    assert data["key"] == "prediction" and data["branch_key"] == "prediction:1"
    assert _through_json(rank) == rank


_affine = st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0]),
                    st.floats(-3, 3, allow_nan=False, allow_infinity=False))


@st.composite
def _ranks(draw):
    """Random piecewise ranks in the prediction: one or two branches, one to three
    segments each, increasing ends, sometimes a -inf last segment or an initial rank."""
    def branch(low, high):
        n = draw(st.integers(1, 3))
        segs, end = [], 0.0
        for i in range(n):
            last = i == n - 1
            if last and draw(st.booleans()):
                segs.append(Segment(value=(0.0, -np.inf)))
                break
            value, slope = draw(_affine), draw(st.sampled_from([-1, 0, 1]))
            if last:
                segs.append(Segment(value=value, slope=slope))
            else:
                end += draw(st.floats(0.05, 2.0))
                segs.append(Segment(value=value, slope=slope, end=(0.0, end)))
        initial = draw(st.one_of(st.none(), _affine))
        return Branch(tuple(segs), low=low, high=high, initial=initial)

    if draw(st.booleans()):
        return RankFunction("prediction", (branch(-np.inf, np.inf),))
    t = draw(st.floats(0.1, 5.0))
    return RankFunction("prediction", (branch(-np.inf, t), branch(t, np.inf)))


@settings(max_examples=60, deadline=None)
@given(_ranks())
def test_random_ranks_round_trip(rank):
    assert _through_json(rank) == rank


def test_defaults_and_numeric_strings():
    # left out: low/high (whole axis), initial (none), slope (0), overhead (false), and
    # the last segment's end (infinity)
    r = RankFunction.from_dict({"key": "size", "branches": [{"segments": [
        {"value": ["1", "0"], "slope": -1, "end": [0, "2.5"]}, {"value": [0, "-inf"]}]}]})
    assert r == RankFunction.single("size", [Segment(value=(1.0, 0.0), slope=-1,
                                                     end=(0.0, 2.5)),
                                             Segment(value=(0.0, -np.inf))])


@pytest.mark.parametrize("data, match", [
    ([1, 2], r"rank: expected a mapping"),
    ({"key": "size"}, r"rank: needs 'key' and 'branches'"),
    ({"key": "size", "branches": [], }, r"rank\.branches: expected a non-empty list"),
    ({"key": "size", "branches": [1]}, r"^branches\[0\]: expected a mapping, got int"),
    ({"key": "size", "branches": [{"segments": ["x"]}]},
     r"^branches\[0\]\.segments\[0\]: expected a mapping, got str"),
    ({"key": "size", "branches": [{"segments": []}]},
     r"^branches\[0\]\.segments: expected a non-empty list of segments"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, 0]}]}], "colour": 1},
     r"rank: unknown entry 'colour'"),
    ({"key": "bogus", "branches": [{"segments": [{"value": [1, 0]}]}]}, r"key must be one"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, 0], "slop": -1}]}]},
     r"branches\[0\]\.segments\[0\]: unknown entry 'slop'"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, 0], "slope": -1},
                                                {"value": [0, 0]}]}]},
     r"branches\[0\]\.segments\[0\]\.end: every segment but the last needs an end"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, "x"]}]}]},
     r"branches\[0\]\.segments\[0\]\.value: expected a number, got 'x'"),
    ({"key": "size", "branches": [{"segments": [{"value": [1]}]}]},
     r"branches\[0\]\.segments\[0\]\.value: expected a pair"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, 0], "slope": True}]}]},
     r"branches\[0\]\.segments\[0\]\.slope: expected a number, got True"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, 0], "overhead": "yes"}]}]},
     r"branches\[0\]\.segments\[0\]\.overhead: expected true or false"),
    ({"key": "size", "branches": [{"low": 2, "high": 1, "segments": [{"value": [1, 0]}]}]},
     r"branches\[0\]: branch bounds out of order"),
    ({"key": "size", "branches": [{"high": 1, "segments": [{"value": [0, 0]}]},
                                  {"low": 2, "segments": [{"value": [0, 1]}]}]},
     r"branches out of order or not contiguous"),
    ({"key": "size", "branches": [{"segments": [{"value": [1, "nan"]}]}]},
     r"branches\[0\]\.segments\[0\]\.value: NaN"),
])
def test_bad_data_names_its_place(data, match):
    with pytest.raises(ValueError, match=match):
        RankFunction.from_dict(data)


def _write(tmp_path, rank, name="mine.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps({**rank.to_dict(), **extra}))
    return path


def test_rank_file_policy_gives_the_objects_value(tmp_path):
    """A rank file's policy is the same policy: SPRPT's rank from a file gives SOAP's value
    bit for bit, and the closed form's to 1e-9 (an independent derivation)."""
    rank = P.SPRPT().rank()
    path = _write(tmp_path, rank, name="sprpt_by_hand.json")
    pol = qt.policies.get_policy(f"Rank:file={path}")
    assert isinstance(pol, P.RankPolicy) and pol.name == "sprpt_by_hand"
    q = qt.MG1(load=0.8, size=SIZE, prediction=PRED)
    v = q.mean_response_time(pol)
    assert v == q.mean_response_time(P.RankPolicy(rank, label="x"))
    assert abs(v / q.mean_response_time("SPRPT") - 1.0) < 1e-9
    # a label: the spec's, else the file's "label", else the file's name
    assert qt.policies.parse_policy(f"rank:file={path},label=A").name == "A"
    path2 = _write(tmp_path, rank, name="other.json", label="from the file")
    assert P.RankPolicy.from_file(path2).name == "from the file"


@pytest.mark.parametrize("spec, match", [
    ("Rank", r"Rank needs file=PATH"),
    ("Rank:label=x", r"Rank needs file=PATH"),
    ("Rank:file=a.json,colour=red", r"Rank takes file=PATH and optionally label=NAME"),
    ("Rank:file=a.json,file=b.json", r"parameter 'file' given twice"),
    ("Rank:file=/no/such/file.json", r"file: cannot read the rank file"),
])
def test_rank_spec_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        qt.policies.parse_policy(spec)


def test_rank_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json' is not JSON"):
        P.RankPolicy.from_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"key": "size", "branches": [{"segments": [
        {"value": [1, 0], "slope": 7, "end": [1, 0]}, {"value": [0, 0]}]}]}))
    with pytest.raises(ValueError, match=r"wrong\.json': slope must be -1, 0 or \+1 on a "
                                         r"segment that depends on the size \(got 7"):
        P.RankPolicy.from_file(wrong)


def test_command_line_reads_rank_files(tmp_path, capsys):
    """``qtheory solve --policy Rank:file=PATH`` prints the Python API's values (a TRAIL
    rank written by hand beside TRAIL itself)."""
    rank = P.TRAIL(c=0.5).rank()
    path = _write(tmp_path, rank, name="trail_half.json")
    argv = ["solve", "--policy", f"Rank:file={path}", "--policy", "TRAIL:c=0.5",
            "--size", "exponential:mean=1", "--prediction", "uniform:alpha=0.5",
            "--load", "0.7", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["results"]
    assert out[0]["policy"] == "trail_half"
    q = qt.MG1(load=0.7, size=SIZE, prediction=PRED)
    assert out[0]["mean_response_time"] == q.mean_response_time(P.RankPolicy(rank, label="x"))
    assert abs(out[0]["mean_response_time"] / out[1]["mean_response_time"] - 1.0) < 1e-9
