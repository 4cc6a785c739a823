"""Grader of the blotto task (read-only; `validate` runs a pristine copy).

The rules it enforces:
* 10,000 independent games of 10 rounds (Colonel Blotto). In each round both players
  split 120 soldiers over 6 battlefields at the same time, knowing only the earlier
  rounds of that game. A move is a list of 6 non-negative integers summing to at most
  120 (soldiers left unassigned are simply lost).
* A battlefield goes to whoever put more soldiers on it (a tie gives it to nobody). The
  player holding more battlefields wins the round: your payoff is +1 for a win, -1 for a
  loss, 0 when both hold the same number.
* Score = your mean payoff per round over all games and rounds.

How `validate` runs it: in a private directory that also holds the opponent
(`target.py`) and the shared game engine, neither of which is in your workspace. Your
`row_strategy` runs in a separate process and is called once per game and round; the
games are played in lockstep (round 1 of every game, then round 2, ...), so calls for
different games are interleaved. Any invalid allocation stops the evaluation with an
error. Python's `random` is seeded per evaluation, so the
same strategy gets the same score for the same episode.
"""

import operator
import os
import sys

KIND = "allocation"
FIELDS = 6
SOLDIERS = 120
SECRET_FILES = ("gamegrader.py", "target.py")


def payoff(row, col) -> float:
    """The row player's payoff for one round: +1, -1 or 0."""
    won = sum(map(operator.gt, row, col))  # battlefields where you sent more soldiers
    lost = sum(map(operator.lt, row, col))  # battlefields where the opponent sent more
    return float((won > lost) - (won < lost))


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    if not all(os.path.isfile(os.path.join(here, name)) for name in SECRET_FILES):
        print(
            "The opponent is not part of your workspace: it is only available while the "
            "environment grades your strategy.\nUse the `validate` command to score the "
            "current strategy.py (and `submit` when you are done).",
            file=sys.stderr,
        )
        return 1
    sys.path.insert(0, here)
    import gamegrader

    import target

    return gamegrader.main(
        KIND,
        payoff,
        target.column_strategy,
        here,
        SECRET_FILES,
        fields=FIELDS,
        budget=SOLDIERS,
    )


if __name__ == "__main__":
    sys.exit(main())
