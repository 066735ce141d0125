"""Votes on the dilemma cards: one per account and card, counts only, kept across restarts,
and in the debrief."""

from __future__ import annotations

import stat

import pytest

from dashboard.votes import VoteBook, VoteError, tally_html, with_tally


def test_one_vote_per_account_and_card_and_a_new_one_replaces_it(tmp_path):
    book = VoteBook(tmp_path / "votes.json")
    book.cast("faces", "student01", "keep")
    book.cast("faces", "student02", "drop")
    book.cast("faces", "student01", "limits")  # changed their mind
    assert book.tally() == {"faces": {"keep": 0, "limits": 1, "drop": 1}}
    assert book.mine("student01") == {"faces": "limits"}
    again = VoteBook(tmp_path / "votes.json")  # the dashboard restarted
    assert again.tally() == book.tally()
    assert stat.S_IMODE((tmp_path / "votes.json").stat().st_mode) == 0o600
    with pytest.raises(VoteError):
        book.cast("faces", "student01", "burn it")


def test_the_debrief_gets_the_counts_and_no_names():
    section = tally_html(
        {"faces": {"keep": 2, "limits": 5, "drop": 9}},
        {"keep": "Keep", "limits": "Keep with limits", "drop": "Do not collect"},
        "Votes",
    )
    page = with_tally("<html><body><h1>Debrief</h1></body></html>", section)
    assert page.index('<section id="votes">') < page.index("</body>")
    assert "<td>faces</td><td>2</td><td>5</td><td>9</td>" in page
