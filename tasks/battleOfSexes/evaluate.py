"""Grader of the battleOfSexes task (read-only; `validate` runs a pristine copy).

The rules it enforces:
* 10,000 independent games of 10 rounds; in each round both players choose 0 or 1 at
  the same time, knowing only the earlier rounds of that game.
* Row player's payoff (yours): both 0 -> 2, both 1 -> 1, different choices -> 0.
  (The column player gets 1, 2 and 0 respectively.)
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


def payoff(row: int, col: int) -> float:
    """The row player's payoff for one round."""
    if row != col:
        return 0.0
    return 2.0 if row == 0 else 1.0


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
