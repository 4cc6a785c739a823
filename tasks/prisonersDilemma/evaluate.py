"""Grader of the prisonersDilemma task (read-only; `validate` runs a pristine copy).

The rules it enforces:
* 10,000 independent games of 10 rounds; in each round both players choose at the same
  time, 0 = cooperate or 1 = defect, knowing only the earlier rounds of that game.
* Row player's payoff (yours): both cooperate -> 3, you cooperate and they defect -> 0,
  you defect and they cooperate -> 5, both defect -> 1.
* Score = your mean payoff per round over all games and rounds.

How `validate` runs it: in a private directory that also holds the opponent
(`target.py`) and the shared game engine, neither of which is in your workspace. Your
`row_strategy` runs in a separate process and is called once per game and round; the
games are played in lockstep (round 1 of every game, then round 2, ...), so calls for
different games are interleaved. It must return the integer 0 or 1; anything else
stops the evaluation with an error. Python's `random` is seeded per evaluation, so the
same strategy gets the same score for the same episode.
"""

import os
import sys

KIND = "binary"
SECRET_FILES = ("gamegrader.py", "target.py")


# ROW_PAYOFF[row][col]: 0 = cooperate, 1 = defect.
ROW_PAYOFF = ((3.0, 0.0), (5.0, 1.0))


def payoff(row: int, col: int) -> float:
    """The row player's payoff for one round."""
    return ROW_PAYOFF[row][col]


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

    return gamegrader.main(KIND, payoff, target.column_strategy, here, SECRET_FILES)


if __name__ == "__main__":
    sys.exit(main())
