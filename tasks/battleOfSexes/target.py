"""Opponent of the battleOfSexes task (secret: present only while grading).

The column player prefers coordinating on 1. It opens with 1; from the second round on
it repeats the row player's opening move with probability 0.8 and plays the other
action otherwise.

`history` lists the earlier rounds of the current game as (row_move, column_move);
`rng` is the grader's seeded random.Random.
"""

FOLLOW_PROB = 0.8


def column_strategy(history, rng):
    if not history:
        return 1
    opening = history[0][0]
    if rng.random() < FOLLOW_PROB:
        return opening
    return 1 - opening
