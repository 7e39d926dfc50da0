"""The bench's command line: a group named wrongly stops the run before it starts, and a
loaded database is not reused for the groups that need a fresh one."""

import pytest

from bench.run import GROUPS, parse_args, reuse_refusal


def test_no_groups_named_runs_them_all():
    assert parse_args([]).groups == set(GROUPS)


def test_the_groups_named_are_the_ones_run():
    args = parse_args(["--only", "lookup, targeting", "--reuse"])

    assert args.groups == {"lookup", "targeting"}
    assert reuse_refusal(args.groups) is None


def test_an_unknown_group_is_refused_with_the_list_of_groups(capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--only", "lookups,targeting"])

    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "unknown group in --only: lookups" in error
    assert "ingest, latency, widgets, granian, lookup, targeting, inprocess" in error


@pytest.mark.parametrize(
    ("only", "named"),
    [("", "the ingest and latency groups need"), ("ingest,lookup", "the ingest group needs")],
)
def test_a_loaded_database_is_not_reused_for_the_ingest_groups(only, named):
    refusal = reuse_refusal(parse_args(["--only", only]).groups)

    assert named in refusal
    assert refusal.endswith("--only widgets,granian,lookup,targeting,inprocess")
